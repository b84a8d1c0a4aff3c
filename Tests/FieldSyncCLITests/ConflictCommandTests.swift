import FieldSyncTesting
import Foundation
import Testing

/// `fieldsync hub rules`, `fieldsync conflicts` and `fieldsync hub notify` end to end, through the real binary on
/// the embedded hub store.
@Suite struct ConflictCommandTests {
    /// A hub syncing `people` (a unique index on `name` that sites lack) and `notes`, with `site-a` registered
    /// and one full round done, so that the site's next edits are based on the hub's versions.
    static func network() throws -> CLINetwork {
        let network = try CLINetwork(prefix: "fieldsync-conflicts")
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "people", "--column", "id:text:notnull",
            "--column", "name:text", "--column", "age:integer", "--primary-key", "id",
        ])
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "notes", "--column", "id:integer:notnull",
            "--column", "body:text", "--primary-key", "id",
        ])
        try SQLiteShell.run(network.hubStore, "CREATE UNIQUE INDEX people_name ON people (name)")
        try network.addSite(
            "site-a",
            schema: """
                CREATE TABLE people (id TEXT PRIMARY KEY NOT NULL, name TEXT, age INTEGER);
                CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
                INSERT INTO people VALUES ('a1', 'Amina', 31);
                """)
        try network.round()
        try network.round()
        return network
    }

    /// The site and the hub both change `a1`; the site's bundle then arrives at the hub.
    static func makeConflict(_ network: CLINetwork) throws -> FieldSyncCommand.Output {
        try SQLiteShell.run(
            network.siteDatabase("site-a"), "UPDATE people SET name = 'Amina K', age = 32 WHERE id = 'a1'")
        try SQLiteShell.run(network.hubStore, "UPDATE people SET age = 40 WHERE id = 'a1'")
        return try network.importAtHub([network.exportSite("site-a")])
    }

    static func json(_ output: FieldSyncCommand.Output) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    static func rules(_ network: CLINetwork) throws -> [String: [String: Any]] {
        let list = try #require(
            try json(network.succeed(["hub", "rules", "--dir", network.hubDirectory, "--json"])) as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["table"] as? String ?? "?", $0) })
    }

    /// Rewrites the hub's fieldsync.json with `change` applied to its JSON object.
    static func editConfiguration(_ network: CLINetwork, _ change: (inout [String: Any]) -> Void) throws {
        let path = "\(network.hubDirectory)/fieldsync.json"
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    @Test func rulesAreShownSetAndTakenFromTheConfigurationFile() throws {
        let network = try Self.network()
        let hub = network.hubDirectory
        var rules = try Self.rules(network)
        #expect(rules["people"]?["strategy"] as? String == "server_wins")
        #expect(rules["people"]?["source"] as? String == "default")
        #expect(rules["notes"]?["notify"] as? Bool == false)

        let set = try network.succeed([
            "hub", "rules", "set", "--dir", hub, "notes", "--strategy", "field_merge", "--fallback", "client_wins",
            "--merge-fields", "body", "--notify",
        ])
        #expect(
            set.stdout.contains(
                "Table 'notes': field_merge (fallback client_wins, merge fields body), notifications on"))
        rules = try Self.rules(network)
        #expect(rules["notes"]?["strategy"] as? String == "field_merge")
        #expect(rules["notes"]?["fallback"] as? String == "client_wins")
        #expect(rules["notes"]?["merge_fields"] as? [String] == ["body"])
        #expect(rules["notes"]?["source"] as? String == "store")
        // Notification stays on when a later set does not say.
        try network.succeed(["hub", "rules", "set", "--dir", hub, "notes", "--strategy", "last_write_wins"])
        rules = try Self.rules(network)
        #expect(rules["notes"]?["strategy"] as? String == "last_write_wins")
        #expect(rules["notes"]?["notify"] as? Bool == true)
        let text = try network.succeed(["hub", "rules", "--dir", hub])
        #expect(text.stdout.contains("notes   last_write_wins"), "\(text.stdout)")

        // Mistakes name the table or column and change nothing.
        let unknownTable = try network.fieldsync([
            "hub", "rules", "set", "--dir", hub, "nosuch", "--strategy", "manual",
        ])
        #expect(unknownTable.status == 1)
        #expect(unknownTable.stderr.contains("table 'nosuch' is not synced by this hub"), "\(unknownTable.stderr)")
        let badColumn = try network.fieldsync([
            "hub", "rules", "set", "--dir", hub, "people", "--strategy", "field_merge", "--merge-fields", "nme",
        ])
        #expect(badColumn.status == 1)
        #expect(badColumn.stderr.contains("'nme'"), "\(badColumn.stderr)")
        let keyColumn = try network.fieldsync([
            "hub", "rules", "set", "--dir", hub, "people", "--strategy", "field_merge", "--merge-fields", "id",
        ])
        #expect(keyColumn.status == 1)
        #expect(keyColumn.stderr.contains("'id'"), "\(keyColumn.stderr)")
        let misplaced = try network.fieldsync([
            "hub", "rules", "set", "--dir", hub, "people", "--strategy", "manual", "--fallback", "client_wins",
        ])
        #expect(misplaced.status == 64)
        #expect(misplaced.stderr.contains("--fallback and --merge-fields apply only to --strategy field_merge"))
        let unknownStrategy = try network.fieldsync(["hub", "rules", "set", "--dir", hub, "people", "--strategy", "x"])
        #expect(unknownStrategy.status == 64)
        #expect(try Self.rules(network)["people"]?["strategy"] as? String == "server_wins")

        // A rule in fieldsync.json is applied by the next hub command, and hub rules set refuses its table.
        try Self.editConfiguration(network) {
            $0["conflict_rules"] = [
                "people": ["strategy": "manual", "notify": true], "later": ["strategy": "client_wins"],
            ]
        }
        let listed = try network.succeed(["hub", "rules", "--dir", hub])
        #expect(listed.stdout.contains("people  manual"), "\(listed.stdout)")
        #expect(listed.stdout.contains("\(hub)/fieldsync.json"), "\(listed.stdout)")
        #expect(listed.stderr.contains("table 'later', which this hub does not sync"), "\(listed.stderr)")
        rules = try Self.rules(network)
        #expect(rules["people"]?["source"] as? String == "config")
        #expect(rules["people"]?["file"] as? String == "\(hub)/fieldsync.json")
        #expect(rules["people"]?["notify"] as? Bool == true)
        let refused = try network.fieldsync([
            "hub", "rules", "set", "--dir", hub, "people", "--strategy", "client_wins",
        ])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("table 'people' has its rule in \(hub)/fieldsync.json (conflict_rules.people)"),
            "\(refused.stderr)")
        // The rule is in force: a conflict on people now waits for a person.
        let ingest = try Self.makeConflict(network)
        #expect(ingest.stdout.contains("1 conflict waiting for a decision"), "\(ingest.stdout)")
        // A table added later takes its rule from the file.
        try network.succeed([
            "hub", "add-table", "--dir", hub, "later", "--column", "id:integer:notnull", "--primary-key", "id",
        ])
        #expect(try Self.rules(network)["later"]?["strategy"] as? String == "client_wins")
    }

    @Test(arguments: [
        (#"{"people": {"strategy": "bogus"}}"#, "field 'conflict_rules.people.strategy': 'bogus' is not a strategy"),
        (#"{"people": {"strategy": "manual", "notfy": true}}"#, "field 'conflict_rules.people.notfy': unknown field"),
        (#"{"people": {"notify": true}}"#, "field 'conflict_rules.people': required field 'strategy' is missing"),
        (#"{"people": {"strategy": "manual", "notify": "yes"}}"#, "field 'conflict_rules.people.notify': wrong type"),
        (
            #"{"people": {"strategy": "manual", "merge_fields": ["name"]}}"#,
            "field 'conflict_rules.people.merge_fields': applies only to the field_merge strategy"
        ),
        (
            #"{"people": {"strategy": "field_merge", "merge_fields": ["nme"]}}"#,
            "field 'conflict_rules.people': table 'people' has no column 'nme'"
        ),
    ])
    func aMalformedRuleInTheConfigurationFileStopsHubCommands(rules: String, message: String) throws {
        let network = try Self.network()
        let parsed = try JSONSerialization.jsonObject(with: Data(rules.utf8))
        try Self.editConfiguration(network) { $0["conflict_rules"] = parsed }
        for command in [["hub", "rules"], ["status"], ["bundle", "export", "--site", "site-a"]] {
            let output = try network.fieldsync(command + ["--dir", network.hubDirectory])
            #expect(output.status == 1, "\(command)")
            #expect(output.stderr.contains("\(network.hubDirectory)/fieldsync.json"), "\(output.stderr)")
            #expect(output.stderr.contains(message), "\(command): \(output.stderr)")
        }
    }

    @Test func aManualConflictIsListedShownResolvedAndReachesTheSite() throws {
        let network = try Self.network()
        let hub = network.hubDirectory
        try network.succeed(["hub", "rules", "set", "--dir", hub, "people", "--strategy", "manual"])
        let ingest = try Self.makeConflict(network)
        #expect(ingest.stdout.contains("0 applied, 1 conflict waiting for a decision"), "\(ingest.stdout)")
        // The hub keeps its row meanwhile.
        #expect(try network.hubRows("people", columns: "id, name, age", order: "id") == ["'a1','Amina',40"])

        let pending = try #require(
            try Self.json(network.succeed(["conflicts", "list", "--dir", hub, "--pending", "--json"]))
                as? [[String: Any]])
        #expect(pending.count == 1)
        let id = try #require(pending.first?["id"] as? Int)
        #expect(pending.first?["table"] as? String == "people")
        #expect(pending.first?["key"] as? [String] == ["a1"])
        #expect(pending.first?["site"] as? String == "site-a")
        #expect(pending.first?["decision"] as? String == "pending")
        #expect(pending.first?["rule"] as? String == "manual")
        let text = try network.succeed(["conflicts", "list", "--dir", hub])
        #expect(text.stdout.contains("site-a  people  [\"a1\"]  manual  pending"), "\(text.stdout)")
        let status = try network.succeed(["status", "--dir", hub])
        #expect(status.stdout.contains("1 waiting for a decision"), "\(status.stdout)")
        #expect(status.stdout.contains("1 conflict waits for a decision: fieldsync conflicts list --pending"))
        let none = try network.succeed(["conflicts", "list", "--dir", hub, "--site", "site-b"])
        #expect(none.stdout.contains("No conflicts recorded."))

        let shown = try network.succeed(["conflicts", "show", "--dir", hub, String(id)])
        #expect(shown.stdout.contains("Conflict \(id): people [\"a1\"] from site-a"), "\(shown.stdout)")
        #expect(shown.stdout.contains("decision:   pending"))
        let lines = shown.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains { $0.hasPrefix("*") && $0.contains("name") && $0.contains("'Amina K'") }, "\(shown.stdout)")
        #expect(lines.contains { $0.hasPrefix("*") && $0.contains("age") && $0.contains("32") && $0.contains("40") })
        #expect(lines.contains { $0.hasPrefix(" ") && $0.contains(" id ") }, "\(shown.stdout)")
        let detail = try #require(
            try Self.json(network.succeed(["conflicts", "show", "--dir", hub, String(id), "--json"])) as? [String: Any])
        #expect(detail["differing"] as? [String] == ["name", "age"])
        #expect((detail["incoming"] as? [String: Any])?["name"] as? String == "Amina K")
        #expect((detail["hub_row"] as? [String: Any])?["age"] as? Int == 40)
        #expect((detail["current"] as? [String: Any])?["age"] as? Int == 40)

        // Mistakes name the id or column, and exit non-zero.
        let missing = try network.fieldsync(["conflicts", "show", "--dir", hub, "999"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("999"), "\(missing.stderr)")
        let badColumn = try network.fieldsync([
            "conflicts", "resolve", "--dir", hub, String(id), "--take", "merged", "--set", "nme=x",
        ])
        #expect(badColumn.status == 1)
        #expect(badColumn.stderr.contains("nme"), "\(badColumn.stderr)")
        let badValue = try network.fieldsync([
            "conflicts", "resolve", "--dir", hub, String(id), "--take", "site", "--set", "age=old",
        ])
        #expect(badValue.status == 1)
        #expect(badValue.stderr.contains("'old' is not an integer"), "\(badValue.stderr)")
        let twice = try network.fieldsync([
            "conflicts", "resolve", "--dir", hub, String(id), "--take", "site", "--set", "age=1", "--set-null", "age",
        ])
        #expect(twice.status == 64)
        #expect(twice.stderr.contains("column 'age' is set twice"))
        #expect(try network.hubRows("people", columns: "id, name, age", order: "id") == ["'a1','Amina',40"])

        let resolved = try network.succeed([
            "conflicts", "resolve", "--dir", hub, String(id), "--take", "site", "--set", "age=33",
        ])
        #expect(resolved.stdout.contains("is resolved: the site's version with 1 column(s) set (resolved_site)"))
        #expect(try network.hubRows("people", columns: "id, name, age", order: "id") == ["'a1','Amina K',33"])
        let again = try network.fieldsync(["conflicts", "resolve", "--dir", hub, String(id), "--take", "hub"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("conflict \(id) was already decided by a person"), "\(again.stderr)")
        #expect(
            (try Self.json(network.succeed(["conflicts", "list", "--dir", hub, "--pending", "--json"])) as? [Any])?
                .isEmpty == true)

        let applied = try network.importAtSite("site-a", [network.exportHub(for: "site-a")])
        #expect(applied.stdout.contains("1 conflict decided at the hub"), "\(applied.stdout)")
        #expect(
            try network.siteRows("site-a", "people", columns: "id, name, age", order: "id") == ["'a1','Amina K',33"])
    }

    @Test func aRowSetAsideIsListedAndRetriedOnceTheCauseIsFixed() throws {
        let network = try Self.network()
        let hub = network.hubDirectory
        try SQLiteShell.run(network.siteDatabase("site-a"), "INSERT INTO people VALUES ('a2', 'Amina', 5)")
        let ingest = try network.importAtHub([network.exportSite("site-a")])
        #expect(ingest.stdout.contains("1 rejected"), "\(ingest.stdout)")

        let waiting = try #require(
            try Self.json(network.succeed(["conflicts", "list", "--dir", hub, "--rejected", "--json"]))
                as? [[String: Any]])
        #expect(waiting.count == 1)
        let id = try #require(waiting.first?["id"] as? Int)
        #expect(waiting.first?["status"] as? String == "set_aside")
        #expect(waiting.first?["key"] as? [String] == ["a2"])
        #expect((waiting.first?["incoming"] as? [String: Any])?["age"] as? Int == 5)
        let text = try network.succeed(["conflicts", "list", "--dir", hub, "--rejected", "--table", "people"])
        #expect(text.stdout.contains("people  [\"a2\"]"), "\(text.stdout)")

        let failed = try network.fieldsync(["conflicts", "retry", "--dir", hub, String(id)])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("set-aside row \(id) (people [\"a2\"] from site-a) still cannot be applied"))
        #expect(failed.stderr.lowercased().contains("unique"), "\(failed.stderr)")

        try SQLiteShell.run(network.hubStore, "DROP INDEX people_name")
        let retried = try network.succeed(["conflicts", "retry", "--dir", hub, String(id)])
        #expect(retried.stdout.contains("Set-aside row \(id) (people [\"a2\"] from site-a) is applied"))
        #expect(
            try network.hubRows("people", columns: "id, name, age", order: "id") == [
                "'a1','Amina',31", "'a2','Amina',5",
            ])
        #expect(
            try network.succeed(["conflicts", "list", "--dir", hub, "--rejected"]).stdout.contains("No rows waiting."))
        let all = try #require(
            try Self.json(network.succeed(["conflicts", "list", "--dir", hub, "--rejected", "--all", "--json"]))
                as? [[String: Any]])
        #expect(all.first?["status"] as? String == "applied")
        let again = try network.fieldsync(["conflicts", "retry", "--dir", hub, String(id)])
        #expect(again.status == 1, "\(again.stdout)")

        let misuse = try network.fieldsync(["conflicts", "list", "--dir", hub, "--rejected", "--pending"])
        #expect(misuse.status == 64)
        try network.round()
        #expect(
            try network.siteRows("site-a", "people", columns: "id, name, age", order: "id") == [
                "'a1','Amina',31", "'a2','Amina',5",
            ])
    }
}
