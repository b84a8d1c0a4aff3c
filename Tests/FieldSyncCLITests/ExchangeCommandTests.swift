import FieldSyncTesting
import Foundation
import Testing

/// End-to-end exchanges through the real `fieldsync` binary only, with databases edited through the `sqlite3` shell
/// as staff would.
@Suite struct ExchangeCommandTests {
    static let siteSchema = """
        CREATE TABLE people (id TEXT PRIMARY KEY NOT NULL, name TEXT, age INTEGER, photo BLOB);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL);
        """

    /// The synced tables: name, columns in hub order, ordering.
    static let tables = [("people", "id, name, age, photo", "id"), ("notes", "id, body, score", "id")]

    /// A hub with `notes` created in its store by `sqlite3` (one row, and a CHECK constraint the sites lack) and
    /// adopted, and `people` declared with `--column`; then `sites`, registered, with rows present before tracking
    /// started at `site-a` and `site-b`.
    static func network(sites: [String] = ["site-a", "site-b"]) throws -> CLINetwork {
        let network = try CLINetwork()
        try SQLiteShell.run(
            network.hubStore,
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL CHECK (score IS NULL OR score >= 0))",
            "INSERT INTO notes VALUES (1, 'hq: check the pump', 1.5)")
        let adopted = try network.succeed(["hub", "add-table", "--dir", network.hubDirectory, "notes"])
        #expect(adopted.stdout.contains("Table 'notes' is synced: id integer, body text, score real; primary key (id)"))
        let declared = try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "people", "--column", "id:text:notnull",
            "--column", "name:text", "--column", "age:integer", "--column", "photo:blob", "--primary-key", "id",
        ])
        #expect(declared.stdout.contains("Table 'people' is synced: id text, name text, age integer, photo blob"))
        for site in sites {
            let rows: String
            switch site {
            case "site-a":
                rows =
                    "INSERT INTO people VALUES ('a1', 'Amina', 31, x'00ff10'), ('a2', '', NULL, NULL);"
                    + "INSERT INTO notes VALUES (100, 'site-a: fence down', 2.25);"
            case "site-b":
                rows = "INSERT INTO people VALUES ('b1', 'Chen', 40, NULL);"
            default:
                rows = ""
            }
            let initialised = try network.addSite(site, schema: siteSchema + rows)
            let pending = site == "site-a" ? 3 : site == "site-b" ? 1 : 0
            #expect(initialised.stdout.contains("pending changes: \(pending)"), "\(initialised.stdout)")
        }
        return network
    }

    /// Every site holds exactly the hub's live rows.
    static func expectConverged(_ network: CLINetwork, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (table, columns, order) in tables {
            let hub = try network.hubRows(table, columns: columns, order: order)
            for site in network.siteIDs {
                let rows = try network.siteRows(site, table, columns: columns, order: order)
                #expect(rows == hub, "table \(table) at \(site) differs from the hub", sourceLocation: sourceLocation)
            }
        }
    }

    /// Every database of the network as `sqlite3 .dump` prints it.
    /// The databases of every node, but for the hub's log lines and refused bundles (a refusal leaves those, and
    /// only those).
    static func dumps(_ network: CLINetwork) throws -> [String: String] {
        let hub = try SQLiteShell.dump(network.hubStore).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("INSERT INTO _fieldsync_log ") }
            .filter { !$0.hasPrefix("INSERT INTO _fieldsync_refusals ") }
        var result = ["hub": hub.joined(separator: "\n")]
        for site in network.siteIDs { result[site] = try SQLiteShell.dump(network.siteDatabase(site)) }
        return result
    }

    @Test func aFullExchangeConvergesAndStatusTellsWhereEachNodeStands() throws {
        let network = try Self.network()

        let before = try network.siteStatus("site-a")
        #expect(before.site == "site-a")
        #expect(before.hub == "hub")
        #expect(before.pendingChanges == 3)
        #expect(before.lastExportSequence == 0)
        #expect(before.lastImportSequence == 0)
        #expect(before.tables.sorted() == ["notes", "people"])
        #expect(before.database == network.siteDatabase("site-a"))

        // Round 1: the rows present before tracking travel both ways.
        let fromA = try network.exportSite("site-a")
        let fromB = try network.exportSite("site-b")
        let ingest = try network.importAtHub([fromB, fromA])
        #expect(ingest.stdout.contains("applied bundle 1 from site-a: 3 applied"), "\(ingest.stdout)")
        #expect(ingest.stdout.contains("applied bundle 1 from site-b: 1 applied"), "\(ingest.stdout)")
        let returnA = try network.exportHub(for: "site-a")
        let returnB = try network.exportHub(for: "site-b")
        let appliedA = try network.importAtSite("site-a", [returnA])
        #expect(appliedA.stdout.contains("applied bundle 1 from hub: 2 applied"), "\(appliedA.stdout)")
        let appliedB = try network.importAtSite("site-b", [returnB])
        #expect(appliedB.stdout.contains("applied bundle 1 from hub: 4 applied"), "\(appliedB.stdout)")
        try Self.expectConverged(network)
        #expect(
            try network.siteRows("site-b", "people", columns: "id, name, age, photo", order: "id")
                == ["'a1','Amina',31,X'00ff10'", "'a2','',NULL,NULL", "'b1','Chen',40,NULL"])
        #expect(
            try network.siteRows("site-b", "notes", columns: "id, body, score", order: "id")
                == ["1,'hq: check the pump',1.5", "100,'site-a: fence down',2.25"])

        // Inserts, updates and deletes typed in the sqlite3 shell at both sites and in the hub store.
        try SQLiteShell.run(
            network.siteDatabase("site-a"), "UPDATE people SET age = 32 WHERE id = 'a1'",
            "DELETE FROM people WHERE id = 'a2'", "INSERT INTO notes VALUES (101, 'site-a: second note', NULL)")
        try SQLiteShell.run(
            network.siteDatabase("site-b"), "INSERT INTO people VALUES ('b2', 'Dara', 27, x'')",
            "UPDATE people SET name = NULL WHERE id = 'b1'")
        try SQLiteShell.run(
            network.hubStore, "INSERT INTO people (id, name, age) VALUES ('h1', 'Hana at HQ', 50)",
            "UPDATE notes SET body = 'hq: pump fixed' WHERE id = 1", "DELETE FROM notes WHERE id = 100")
        #expect(try network.siteStatus("site-a").pendingChanges == 3)

        try network.round()
        try Self.expectConverged(network)
        #expect(
            try network.hubRows("people", columns: "id, name, age, photo", order: "id")
                == [
                    "'a1','Amina',32,X'00ff10'", "'b1',NULL,40,NULL", "'b2','Dara',27,X''",
                    "'h1','Hana at HQ',50,NULL",
                ])
        #expect(
            try network.hubRows("notes", columns: "id, body, score", order: "id")
                == ["1,'hq: pump fixed',1.5", "101,'site-a: second note',NULL"])
        // The hub keeps deletes as tombstones, for the sites that have not heard of them yet.
        #expect(try SQLiteShell.lines(network.hubStore, "SELECT id FROM people WHERE sync_deleted = 1") == ["'a2'"])

        // A round without edits carries the acknowledgements; then both sides agree nothing is pending.
        try network.round()
        try Self.expectConverged(network)
        let hub = try network.hubStatus()
        #expect(hub.hub == "hub")
        #expect(hub.sites.map(\.id) == ["site-a", "site-b"])
        let hubVersion = try SQLiteShell.integer(
            network.hubStore,
            "SELECT max((SELECT max(sync_version) FROM people), (SELECT max(sync_version) FROM notes))")
        for id in ["site-a", "site-b"] {
            let site = try network.siteStatus(id)
            let record = try #require(hub.site(id))
            #expect(site.pendingChanges == 0, "\(id)")
            #expect(site.acknowledgedChange == site.changeCounter, "\(id)")
            #expect(site.lastExportSequence == 3, "\(id)")
            #expect(site.lastImportSequence == 3, "\(id)")
            #expect(site.lastExportAt != nil && site.lastImportAt != nil, "\(id)")
            #expect(site.hubVersion == Int64(hubVersion), "\(id)")
            #expect(site.outcomes == 0, "\(id)")
            #expect(record.name == id)
            #expect(record.publicKey.hasPrefix("fieldsync1:\(id):"))
            #expect(record.lastSequence == 3, "\(id)")
            #expect(record.lastReturnSequence == 3, "\(id)")
            #expect(record.lastReceivedAt != nil && record.lastReturnAt != nil, "\(id)")
            #expect(record.appliedThrough == site.changeCounter, "\(id)")
            #expect(record.ackedHubVersion == Int64(hubVersion), "\(id)")
            #expect(record.pendingRows == 0, "\(id)")
            #expect(record.conflicts == 0, "\(id)")
            #expect(record.rejected == 0, "\(id)")
        }
        let text = try network.succeed(["status", "--dir", network.hubDirectory])
        #expect(text.stdout.contains("Hub 'hub': 2 sites"))
    }

    @Test func theHubSaysAlreadyAppliedSupersededAndNeverArrived() throws {
        let network = try Self.network(sites: ["site-a"])
        let first = try network.exportSite("site-a")
        try SQLiteShell.run(network.siteDatabase("site-a"), "INSERT INTO people VALUES ('a3', 'Efe', 5, NULL)")
        let second = try network.exportSite("site-a")
        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE people SET age = 6 WHERE id = 'a3'")
        let third = try network.exportSite("site-a")

        let applied = try network.importAtHub([first])
        #expect(applied.stdout.contains("applied bundle 1 from site-a: 3 applied"))
        let state = try SQLiteShell.content(network.hubStore, excluding: ["_fieldsync_log"])

        let again = try network.fieldsync(["bundle", "import", "--dir", network.hubDirectory, first])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(
            again.stdout.contains("site-a-to-hub-00000001.fsb: bundle 1 from site-a was already applied; nothing to do")
        )
        #expect(try SQLiteShell.content(network.hubStore, excluding: ["_fieldsync_log"]) == state)

        // Bundle 2 is lost on the way; bundle 3 carries its changes too.
        let skipped = try network.importAtHub([third])
        #expect(skipped.stdout.contains("applied bundle 3 from site-a"), "\(skipped.stdout)")
        #expect(skipped.stdout.contains("note: bundle 2 from site-a never arrived"), "\(skipped.stdout)")
        #expect(
            try network.hubRows("people", columns: "id, age", order: "id") == ["'a1',31", "'a2',NULL", "'a3',6"])
        let later = try SQLiteShell.content(network.hubStore, excluding: ["_fieldsync_log"])

        // Bundle 2 turns up late: it changes nothing.
        let late = try network.fieldsync(["bundle", "import", "--dir", network.hubDirectory, second])
        #expect(late.status == 0, "\(late.stderr)")
        #expect(late.stdout.contains("bundle 2 from site-a is superseded by a newer bundle already applied"))
        #expect(try SQLiteShell.content(network.hubStore, excluding: ["_fieldsync_log"]) == later)
        #expect(try network.hubStatus().site("site-a")?.lastSequence == 3)
    }

    @Test func aSiteSaysAlreadyAppliedSupersededAndNeverArrived() throws {
        let network = try Self.network(sites: ["site-a"])
        try network.round()
        try SQLiteShell.run(network.hubStore, "INSERT INTO people (id, name) VALUES ('h1', 'Hana')")
        let second = try network.exportHub(for: "site-a")
        try SQLiteShell.run(network.hubStore, "UPDATE people SET age = 50 WHERE id = 'h1'")
        let third = try network.exportHub(for: "site-a")
        try SQLiteShell.run(network.hubStore, "INSERT INTO notes (id, body) VALUES (2, 'hq: new note')")
        let fourth = try network.exportHub(for: "site-a")
        let database = network.siteDatabase("site-a")

        let applied = try network.importAtSite("site-a", [second])
        #expect(applied.stdout.contains("applied bundle 2 from hub: "), "\(applied.stdout)")
        let state = try SQLiteShell.dump(database)
        let again = try network.fieldsync(["bundle", "import", "--dir", network.siteDirectory("site-a"), second])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(
            again.stdout.contains("hub-to-site-a-00000002.fsb: bundle 2 from hub was already applied; nothing to do"))
        #expect(try SQLiteShell.dump(database) == state)

        let skipped = try network.importAtSite("site-a", [fourth])
        #expect(skipped.stdout.contains("applied bundle 4 from hub"), "\(skipped.stdout)")
        #expect(skipped.stdout.contains("note: bundle 3 from hub never arrived"), "\(skipped.stdout)")
        try Self.expectConverged(network)
        let later = try SQLiteShell.dump(database)

        let late = try network.fieldsync(["bundle", "import", "--dir", network.siteDirectory("site-a"), third])
        #expect(late.status == 0, "\(late.stderr)")
        #expect(late.stdout.contains("bundle 3 from hub is superseded by a newer bundle already applied"))
        #expect(try SQLiteShell.dump(database) == later)
        #expect(try network.siteStatus("site-a").lastImportSequence == 4)
    }

    @Test func conflictsKeyChangesAndSetAsideRowsAreReportedAndTheRestConverges() throws {
        let network = try Self.network()
        try network.round()
        try network.round()

        // HQ and site-b both change a1's age: the hub keeps its row and tells site-b. site-a renames a key; site-b
        // deletes and re-inserts a record, and writes a note that breaks the hub's CHECK constraint.
        try SQLiteShell.run(network.hubStore, "UPDATE people SET age = 40 WHERE id = 'a1'")
        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE people SET id = 'a2-renamed' WHERE id = 'a2'")
        try SQLiteShell.run(
            network.siteDatabase("site-b"), "UPDATE people SET age = 41 WHERE id = 'a1'",
            "DELETE FROM people WHERE id = 'b1'", "INSERT INTO people VALUES ('b1', 'Chen again', 41, NULL)",
            "INSERT INTO notes VALUES (300, 'site-b: negative score', -1)")
        let fromA = try network.exportSite("site-a")
        let fromB = try network.exportSite("site-b")
        let ingest = try network.importAtHub([fromA, fromB])
        #expect(ingest.stdout.contains("1 conflict settled by the table's rule"), "\(ingest.stdout)")
        #expect(ingest.stdout.contains("1 rejected (see fieldsync status)"), "\(ingest.stdout)")
        for site in ["site-a", "site-b"] { try network.importAtSite(site, [try network.exportHub(for: site)]) }
        try network.round()

        let hub = try network.hubStatus()
        #expect(hub.site("site-a")?.conflicts == 0)
        #expect(hub.site("site-a")?.rejected == 0)
        #expect(hub.site("site-b")?.conflicts == 1)
        #expect(hub.site("site-b")?.rejected == 1)
        #expect(try network.siteStatus("site-a").outcomes == 0)
        #expect(try network.siteStatus("site-b").outcomes == 2)
        #expect(
            try network.hubRows("people", columns: "id, name, age", order: "id")
                == ["'a1','Amina',40", "'a2-renamed','',NULL", "'b1','Chen again',41"])
        #expect(try SQLiteShell.lines(network.hubStore, "SELECT id FROM people WHERE sync_deleted = 1") == ["'a2'"])
        #expect(try network.hubRows("notes", columns: "id", order: "id") == ["1", "100"])
        // The hub set the note aside; site-b is brought back in step and keeps its version with the reason.
        try Self.expectConverged(network)
        #expect(try network.siteRows("site-b", "notes", columns: "id", order: "id") == ["1", "100"])
        let kept = try SQLiteShell.lines(
            network.siteDatabase("site-b"), "SELECT kind, tbl, pk, local_row FROM _fieldsync_outcomes ORDER BY kind")
        #expect(kept.contains("'rejected','notes','[300]','[300,\"site-b: negative score\",-1.0]'"), "\(kept)")
        #expect(
            try SQLiteShell.lines(
                network.siteDatabase("site-b"), "SELECT reason FROM _fieldsync_outcomes WHERE kind = 'rejected'"
            )
            .first?.contains("CHECK constraint failed") == true)

        // Typed again correctly, it goes through.
        try SQLiteShell.run(network.siteDatabase("site-b"), "INSERT INTO notes VALUES (300, 'site-b: fixed score', 1)")
        try network.round()
        try Self.expectConverged(network)
        #expect(try network.hubRows("notes", columns: "id, score", order: "id") == ["1,1.5", "100,2.25", "300,1.0"])
    }

    @Test func bundlesGivenOutOfOrderApplyInSequenceAndOneRefusedDoesNotStopTheOthers() throws {
        let network = try Self.network(sites: ["site-a"])
        let database = network.siteDatabase("site-a")
        let first = try network.exportSite("site-a")
        try SQLiteShell.run(database, "INSERT INTO people VALUES ('a3', 'Efe', 5, NULL)")
        let second = try network.exportSite("site-a")
        try SQLiteShell.run(database, "UPDATE people SET age = 6 WHERE id = 'a3'")
        let third = try network.exportSite("site-a")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: second))
        bytes[bytes.count / 2] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: second))

        let output = try network.fieldsync(["bundle", "import", "--dir", network.hubDirectory, third, second, first])
        #expect(output.status == 1)
        #expect(output.stderr.contains("site-a-to-hub-00000002.fsb"), "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("site-a-to-hub-00000001.fsb: applied bundle 1 from site-a") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("site-a-to-hub-00000003.fsb: applied bundle 3 from site-a") == true)
        #expect(try network.hubRows("people", columns: "id, age", order: "id") == ["'a1',31", "'a2',NULL", "'a3',6"])
    }

    @Test func aSplitBundleImportsFromItsPartsInAnyOrderOrFromOnePartBesideTheOthers() throws {
        let network = try Self.network(sites: ["site-a"])
        try Self.rewriteConfiguration(at: network.siteDirectory("site-a")) { $0["part_size_limit"] = 8000 }
        try SQLiteShell.run(
            network.siteDatabase("site-a"),
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
            INSERT INTO people SELECT printf('s%03d', i), printf('person %d', i), i, randomblob(100) FROM n
            """)
        let export = try network.succeed([
            "bundle", "export", "--dir", network.siteDirectory("site-a"), "--out", network.directory.file("split"),
            "--json",
        ])
        let parts = try #require(try JSONDecoder().decode([ExportJSON].self, from: Data(export.stdout.utf8)).first)
            .files.map { $0.hasPrefix("/") ? $0 : network.directory.file($0) }
        try #require(parts.count >= 2, "\(export.stdout)")

        try network.copyHub(to: network.directory.file("hub-copy"))
        // All parts, last first.
        let all = try network.importAtHub(parts.reversed())
        #expect(all.stdout.contains("applied bundle 1 from site-a: 403 applied"), "\(all.stdout)")
        // One part only: the others are found beside it.
        let one = try network.succeed(["bundle", "import", "--dir", network.directory.file("hub-copy"), parts[1]])
        #expect(one.stdout.contains("applied bundle 1 from site-a: 403 applied"), "\(one.stdout)")
        #expect(try SQLiteShell.integer(network.hubStore, "SELECT count(*) FROM people") == 402)
        #expect(
            try network.hubRows("people", columns: "id, name, age, photo", order: "id")
                == SQLiteShell.lines(
                    network.directory.file("hub-copy/hub.sqlite"),
                    "SELECT id, name, age, photo FROM people WHERE sync_deleted = 0 ORDER BY id"))
    }

    /// A bundle or node directory that must be refused, and what the refusal must say.
    enum Refusal: String, CaseIterable, CustomTestStringConvertible {
        case tamperedAtHub, cutShortAtHub, tamperedAtSite, unregisteredSite, returnBundleAtHub, otherSitesReturn,
            hubBundleAtASite, forgedHub, malformedHubConfiguration, malformedSiteConfiguration, missingNodeDirectory,
            missingBundleFile

        var testDescription: String { rawValue }
    }

    @Test(arguments: Refusal.allCases)
    func aRefusedImportExitsOneNamesTheFileAndChangesNothing(_ refusal: Refusal) throws {
        let network = try Self.network()
        try network.round()
        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE people SET age = 33 WHERE id = 'a1'")
        try SQLiteShell.run(network.hubStore, "INSERT INTO people (id, name) VALUES ('h1', 'Hana')")
        let fromA = try network.exportSite("site-a")
        let returnA = try network.exportHub(for: "site-a")
        let returnB = try network.exportHub(for: "site-b")

        func altered(_ file: String, as name: String, _ change: (inout Data) -> Void) throws -> String {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            change(&bytes)
            let path = network.directory.file(name)
            try bytes.write(to: URL(fileURLWithPath: path))
            return path
        }

        // The configuration files as they were, put back after the refusal.
        var configurations: [String: Data] = [:]
        for node in [network.hubDirectory] + network.siteIDs.map(network.siteDirectory) {
            let path = "\(node)/fieldsync.json"
            configurations[path] = try Data(contentsOf: URL(fileURLWithPath: path))
        }

        // What to run, and what standard error must name.
        var directory: String
        var file: String
        var expected: [String]
        switch refusal {
        case .tamperedAtHub:
            directory = network.hubDirectory
            file = try altered(fromA, as: "tampered.fsb") { $0[$0.count / 2] ^= 0x20 }
            expected = ["tampered.fsb", "does not match its signed digest"]
        case .cutShortAtHub:
            directory = network.hubDirectory
            file = try altered(fromA, as: "cut.fsb") { $0 = $0.prefix($0.count * 2 / 3) }
            expected = ["cut.fsb", "truncated"]
        case .tamperedAtSite:
            directory = network.siteDirectory("site-a")
            file = try altered(returnA, as: "tampered-return.fsb") { $0[$0.count - 40] ^= 0x01 }
            expected = ["tampered-return.fsb"]
        case .unregisteredSite:
            try SQLiteShell.run(network.directory.file("site-c.sqlite"), Self.siteSchema)
            try network.succeed([
                "site", "init", "--dir", network.siteDirectory("site-c"), "--id", "site-c", "--db",
                network.directory.file("site-c.sqlite"), "--hub-public-key", network.hubPublicKey,
            ])
            directory = network.hubDirectory
            file = try network.exportSite("site-c")
            expected = ["site-c-to-hub-00000001.fsb", "'site-c', which is not registered at this hub"]
        case .returnBundleAtHub:
            directory = network.hubDirectory
            file = returnA
            expected = ["hub-to-site-a-00000002.fsb", "addressed to 'site-a', not to this hub 'hub'"]
        case .otherSitesReturn:
            directory = network.siteDirectory("site-a")
            file = returnB
            expected = ["hub-to-site-b-00000002.fsb", "addressed to 'site-b', not to this site 'site-a'"]
        case .hubBundleAtASite:
            directory = network.siteDirectory("site-b")
            file = fromA
            expected = ["site-a-to-hub-00000002.fsb", "addressed to 'hub', not to this site 'site-b'"]
        case .forgedHub:
            // Another hub that took the same id, and knows site-a's public key, cannot write to site-a.
            let forger = network.directory.file("forger")
            try network.succeed(["hub", "init", "--dir", forger, "--id", "hub"])
            try network.succeed([
                "hub", "add-table", "--dir", forger, "people", "--column", "id:text:notnull", "--column", "name:text",
                "--primary-key", "id",
            ])
            try network.succeed([
                "hub", "add-site", "--dir", forger, "site-a", "--public-key",
                network.directory.file("site-a/keys/site-a.pub"),
            ])
            try SQLiteShell.run(
                network.directory.file("forger/hub.sqlite"), "INSERT INTO people (id, name) VALUES ('a1', 'Mallory')")
            let output = try network.succeed([
                "bundle", "export", "--dir", forger, "--site", "site-a", "--out", network.directory.file("forged"),
            ])
            #expect(output.stdout.contains("Wrote bundle 1 for site-a: 1 change"))
            directory = network.siteDirectory("site-a")
            file = network.directory.file("forged/hub-to-site-a-00000001.fsb")
            expected = ["hub-to-site-a-00000001.fsb", "bad signature"]
        case .malformedHubConfiguration:
            directory = network.hubDirectory
            file = fromA
            try Self.rewriteConfiguration(at: directory) { $0["store"] = 42 }
            expected = ["\(directory)/fieldsync.json", "field 'store'"]
        case .malformedSiteConfiguration:
            directory = network.siteDirectory("site-a")
            file = returnA
            try Self.rewriteConfiguration(at: directory) { $0["role"] = "satellite" }
            expected = ["\(directory)/fieldsync.json", "field 'role'"]
        case .missingNodeDirectory:
            directory = network.directory.file("nowhere")
            file = fromA
            expected = ["\(directory)/fieldsync.json is missing"]
        case .missingBundleFile:
            directory = network.hubDirectory
            file = network.directory.file("out/site-a/never-written.fsb")
            expected = ["never-written.fsb"]
        }

        let before = try Self.dumps(network)
        let output = try network.fieldsync(["bundle", "import", "--dir", directory, file])
        #expect(output.status == 1, "stdout: \(output.stdout) stderr: \(output.stderr)")
        #expect(output.stderr.hasPrefix("error: "), "\(output.stderr)")
        for text in expected {
            #expect(output.stderr.contains(text), "stderr: \(output.stderr)")
        }
        #expect(!output.stdout.contains("applied"), "\(output.stdout)")
        let after = try Self.dumps(network)
        if [.tamperedAtHub, .cutShortAtHub, .unregisteredSite, .returnBundleAtHub].contains(refusal) {
            let logged = try SQLiteShell.run(network.hubStore, "SELECT reason FROM _fieldsync_refusals")
            #expect(expected.allSatisfy { logged.contains($0) || $0.hasSuffix(".fsb") }, "refusals: \(logged)")
            // `fieldsync status` at the hub shows the latest refusal per sender.
            let status = try network.succeed(["status", "--dir", network.hubDirectory]).stdout
            #expect(
                status.contains(
                    [.tamperedAtHub].contains(refusal)
                        ? "last bundle refused:" : "Bundles refused from senders that are not registered"),
                "\(status)")
        }
        // A site logs the refusal with its reason in _fieldsync_log; nothing else changes anywhere.
        func withoutSiteLog(_ dump: String) -> String {
            dump.split(separator: "\n").filter { !$0.hasPrefix("INSERT INTO _fieldsync_log ") }.joined(separator: "\n")
        }
        for (name, dump) in before {
            #expect(
                withoutSiteLog(after[name] ?? "") == withoutSiteLog(dump),
                "\(name) changed: \(SQLiteShell.firstDifference(dump, after[name] ?? ""))")
        }
        let refusedAtSite = [.tamperedAtSite, .otherSitesReturn, .hubBundleAtASite, .forgedHub].contains(refusal)
        if refusedAtSite {
            let site = directory == network.siteDirectory("site-a") ? "site-a" : "site-b"
            let logged = try SQLiteShell.run(
                network.siteDatabase(site), "SELECT message FROM _fieldsync_log WHERE status = 'refused'"
            ).split(separator: "\n").map(String.init)
            #expect(logged.count == 1, "\(logged)")
            for text in expected { #expect(logged.first?.contains(text) == true, "\(logged)") }
            let status = try network.succeed(["status", "--dir", directory])
            #expect(status.stdout.contains("last refused bundle:   \(expected[0])"), "\(status.stdout)")
        }

        // Nothing was left half-done: once the configuration is whole again, the genuine bundles apply.
        for (path, text) in configurations {
            try text.write(to: URL(fileURLWithPath: path))
        }
        try network.importAtHub([fromA])
        try network.importAtSite("site-a", [returnA])
        try network.importAtSite("site-b", [returnB])
        try network.round()
        try Self.expectConverged(network)
        #expect(try network.hubRows("people", columns: "id, name, age", order: "id").contains("'a1','Amina',33"))
        #expect(try network.siteRows("site-b", "people", columns: "id, name", order: "id").contains("'h1','Hana'"))
    }

    /// Decodes `DIRECTORY/fieldsync.json`, lets `change` alter it and writes it back.
    static func rewriteConfiguration(at directory: String, _ change: (inout [String: Any]) -> Void) throws {
        let path = "\(directory)/fieldsync.json"
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }
}
