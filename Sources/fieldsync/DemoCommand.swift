import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncSQLite
import FieldSyncSite
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show a real exchange between a hub and two field sites, step by step.",
        discussion: """
            Sets up, inside DIR, a hub (DIR/hub) and two field sites (DIR/site-nairobi, DIR/site-kisumu) with sample \
            databases, exactly as 'fieldsync hub init' and 'fieldsync site init' would. Then the sites and the hub \
            exchange bundles: a first round, edits in all three places (one of them a conflict), a second round, a \
            bundle lost on the way, and a check that all three databases end up with the same rows. Everything \
            stays in DIR, so you can carry on with the other commands afterwards.
            """
    )

    @Option(help: "Directory for the demo's hub and sites; must not exist yet or be empty.")
    var dir: String = "demo-output"

    func run() throws {
        try reportingErrors {
            if let existing = try? FileManager.default.contentsOfDirectory(atPath: dir), !existing.isEmpty {
                throw ValidationError("'\(dir)' is not empty; give --dir a new directory")
            }
            try DemoTour(dir: dir).run()
        }
    }
}

/// The demo's story, told step by step.
///
/// Nodes are set up by the real commands (their own output silenced, so the story stays readable) and bundles are
/// written and applied by the same engines the bundle commands use: `DIR` ends up exactly as if someone had typed
/// the commands, and can be used with them afterwards.
private final class DemoTour {
    private let dir: String
    private let hubDirectory: String
    private let sites = [
        DemoData.Site(id: "site-nairobi", prefix: "NBO", region: "NAIROBI", beneficiaries: 150, nameOffset: 0),
        DemoData.Site(id: "site-kisumu", prefix: "KSM", region: "KISUMU", beneficiaries: 50, nameOffset: 3),
    ]
    private var stepNumber = 0
    /// A site bundle with changes in it, for the user to inspect and verify afterwards.
    private var exampleBundle: String?

    init(dir: String) {
        self.dir = dir
        hubDirectory = "\(dir)/hub"
    }

    func run() throws {
        print("FieldSync demo in \(dir)/: a hub at headquarters (HQ) and two field sites, Nairobi and Kisumu.")
        print("Each step says which command does the same, so you can carry on by hand afterwards.")
        try setUpHub()
        try createSiteDatabases()
        try setUpSites()
        try declareTablesAndSites()
        try firstRound()
        try editEverywhere()
        let nairobiImport = try secondRound()
        try explainConflict(nairobiImport)
        try loseABundle()
        let same = try compareDatabases()
        try tryItYourself()
        guard same else { throw ExitCode(1) }
    }

    // MARK: Setting up

    private func setUpHub() throws {
        step("HQ sets up the hub: its keys, its bundle folders and its database.")
        command("hub init --dir \(hubDirectory) --id hub")
        try quietly { try HubCommand.Init.parse(["--dir", hubDirectory, "--id", "hub"]).run() }
        let hub = try NodeDirectory.load(hubDirectory)
        say("hub", "database \(hub.resolve(hub.configuration.store ?? "hub.sqlite")) (embedded SQLite)")
        say("", "public key \(hub.keysDirectory)/hub.pub, to give to every site")
        say("", "fingerprint \(try hub.loadKeys().identity.fingerprint), to check over the phone")
    }

    private func createSiteDatabases() throws {
        step("Each field site already keeps its registrations in a SQLite database of its own.")
        for site in sites {
            try FileManager.default.createDirectory(atPath: siteDirectory(site.id), withIntermediateDirectories: true)
            let database = try SQLiteConnection(path: appDatabase(site.id))
            try DemoData.create(in: database, for: site)
            say(site.id, "\(appDatabase(site.id)): \(try rowCounts(database))")
        }
    }

    private func setUpSites() throws {
        step("Each site is put under FieldSync: triggers note every change, whichever program makes it.")
        let first = sites[0].id
        command(
            "site init --dir \(siteDirectory(first)) --id \(first) --db \(appDatabase(first)) "
                + "--hub-public-key \(hubDirectory)/keys/hub.pub", "(and the same for site-kisumu)")
        for site in sites {
            try quietly {
                try SiteCommand.Init.parse([
                    "--dir", siteDirectory(site.id), "--id", site.id, "--db", appDatabase(site.id),
                    "--hub-public-key", "\(hubDirectory)/keys/hub.pub",
                ]).run()
            }
            let node = try NodeDirectory.load(siteDirectory(site.id))
            let status = try node.siteEngine().store.status()
            say(
                site.id,
                "\(status.pendingChanges) rows waiting for the first bundle; "
                    + "fingerprint \(try node.loadKeys().identity.fingerprint)")
            // What the site's IT person sends to HQ (by e-mail, on the stick): the public key file only.
            try FileManager.default.copyItem(
                atPath: "\(node.keysDirectory)/\(site.id).pub", toPath: "\(hubDirectory)/keys/\(site.id).pub")
        }
        line("Each site's public key file (keys/SITE.pub) goes to HQ; the demo copies it to \(hubDirectory)/keys/.")
    }

    private func declareTablesAndSites() throws {
        step("The hub learns the tables (from a site's schema) and the sites (from their public keys).")
        let tables = try NodeDirectory.load(siteDirectory(sites[0].id)).siteEngine().store.tables()
        for table in tables {
            let columns = table.columns.flatMap { column in
                ["--column", "\(column.name):\(column.type.name)\(column.nullable ? "" : ":notnull")"]
            }
            try quietly {
                try HubCommand.AddTable.parse(
                    ["--dir", hubDirectory, table.name] + columns
                        + ["--primary-key", table.primaryKey.joined(separator: ",")]
                ).run()
            }
        }
        command(
            "hub add-table --dir \(hubDirectory) beneficiaries --column id:text --column given_name:text:notnull "
                + "… --primary-key id", "(one per table, with the columns of the site's table)")
        for table in tables {
            say(
                "hub",
                "\(table.name): \(table.columns.count) columns, primary key "
                    + table.primaryKey.joined(separator: ", "))
        }
        command(
            "hub add-site --dir \(hubDirectory) \(sites[0].id) --public-key \(hubDirectory)/keys/\(sites[0].id).pub",
            "(and the same for site-kisumu)")
        for site in sites {
            try quietly {
                try HubCommand.AddSite.parse(
                    ["--dir", hubDirectory, site.id, "--public-key", "\(hubDirectory)/keys/\(site.id).pub"]
                ).run()
            }
        }
        say(
            "hub",
            "registered \(sites.map(\.id).joined(separator: " and ")): it accepts bundles signed with "
                + "their keys, and no others")
    }

    // MARK: Exchanging

    private func firstRound() throws {
        step("Round 1. Each site sends the hub a bundle of everything the hub has not confirmed yet: all its rows.")
        line("Then the hub writes each site a return bundle with what the others sent.")
        command("bundle export --dir NODE", "(into NODE/bundles/outbox/; at the hub, one bundle per site)")
        command("bundle import --dir NODE FILE…", "(checks the sender's signature first, then applies all or nothing)")
        line("A person carries each file (USB stick, shared folder); here each import reads the file where it was")
        line("written.")
        _ = try exchange()
        for site in sites {
            say(site.id, "now holds \(try rowCounts(try SQLiteConnection(path: appDatabase(site.id))))")
        }
    }

    private func editEverywhere() throws {
        step("Life goes on: the data changes in three places before the next exchange.")
        let nairobi = try SQLiteConnection(path: appDatabase("site-nairobi"))
        let kisumu = try SQLiteConnection(path: appDatabase("site-kisumu"))
        let hq = try SQLiteConnection(path: hubDatabase)

        try kisumu.run(
            "INSERT INTO beneficiaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .text("KSM-00051"), .text("Grace"), .text("Wafula"), .text("1991-03-14"), .integer(4), .text("KISUMU"),
                .text("active"), .text("+254711000051"), .text("Registered at the Kisumu outreach day"), .null,
                .text("2026-07-02 10:15:00+03"),
            ])
        say("site-kisumu", "registers a new beneficiary: KSM-00051, Grace Wafula, household of 4")
        try kisumu.run("DELETE FROM distributions WHERE id = 'KSM-D00007'")
        say("site-kisumu", "deletes distribution KSM-D00007 (it was entered twice)")
        try nairobi.run("UPDATE beneficiaries SET phone = '+254722000202' WHERE id = 'NBO-00002'")
        say("site-nairobi", "updates the phone number of \(try person("NBO-00002", in: nairobi))")

        let size = try hq.scalar("SELECT household_size FROM beneficiaries WHERE id = 'KSM-00004'")?.integerValue ?? 0
        let sizeSQL = "UPDATE beneficiaries SET household_size = \(size + 2) WHERE id = 'KSM-00004';"
        try hq.execute(sizeSQL)
        say("HQ", "corrects the household size of \(try person("KSM-00004", in: hq)) from \(size) to \(size + 2),")
        say("", "with SQL straight in the hub's database, as with the sqlite3 shell:")
        say("", "  \(sizeSQL)")

        line("And one person is changed in two places at once, differently:")
        try nairobi.run("UPDATE beneficiaries SET status = 'relocated' WHERE id = 'NBO-00005'")
        say("site-nairobi", "sets the status of \(try person("NBO-00005", in: nairobi)) to 'relocated'")
        let statusSQL = "UPDATE beneficiaries SET status = 'suspended' WHERE id = 'NBO-00005';"
        try hq.execute(statusSQL)
        say("HQ", "sets it to 'suspended':  \(statusSQL)")
    }

    private func secondRound() throws -> SiteImport {
        step("Round 2: the same exchange again. Each bundle carries only what changed.")
        let (bundles, imports) = try exchange()
        exampleBundle = bundles["site-nairobi"]?.first
        return imports["site-nairobi"]!
    }

    private func explainConflict(_ nairobiImport: SiteImport) throws {
        step("The conflict, in plain words.")
        let hq = try SQLiteConnection(path: hubDatabase)
        let nairobi = try SQLiteConnection(path: appDatabase("site-nairobi"))
        let who = try person("NBO-00005", in: hq)
        let hubStatus = try hq.scalar("SELECT status FROM beneficiaries WHERE id = 'NBO-00005'")?.textValue ?? "?"
        line("\(who) got a new status at site-nairobi ('relocated') and at HQ ('suspended')")
        line("between two exchanges. The hub kept its own version, '\(hubStatus)': that is the default rule")
        line("(server_wins). Nairobi's version is not thrown away: the hub recorded it beside its own, for HQ to")
        line("review. HQ can list the recorded conflicts with:")
        let query = "SELECT site_id, tbl, pk, json_extract(incoming, '$.values.status') FROM _fieldsync_conflicts"
        line("  sqlite3 \(hubDatabase) \\")
        line("    \"\(query)\"")
        let recorded = try hq.query(query)
        for row in recorded {
            line("  " + row.map { $0.textValue ?? "\($0)" }.joined(separator: "|"))
        }
        guard !recorded.isEmpty else {
            line("!! the hub recorded no conflict")
            throw ExitCode(1)
        }
        let outcome = nairobiImport.outcomes.first { $0.kind == .conflictHubKept }
        let siteStatus = try nairobi.scalar("SELECT status FROM beneficiaries WHERE id = 'NBO-00005'")?.textValue ?? "?"
        line("site-nairobi was told in its return bundle" + (outcome == nil ? "." : ":"))
        if let outcome { line("  \"\(outcome.reason)\"") }
        line(
            "Its database now says '\(siteStatus)', like the hub's; "
                + "'fieldsync status' counts the conflict at both ends.")
    }

    private func loseABundle() throws {
        step("A lost bundle does no harm.")
        let kisumu = try NodeDirectory.load(siteDirectory("site-kisumu"))
        let app = try SQLiteConnection(path: appDatabase("site-kisumu"))
        try app.run(
            "INSERT INTO assessments VALUES ('KSM-A00014', 'KSM-00051', 3.5, ?, '2026-07-09 11:30:00+03')",
            [.text("{\"shelter\": \"house\", \"water_litres\": 40}")])
        say("site-kisumu", "records an assessment of Grace Wafula (KSM-00051)")
        let lost = try exportSite(kisumu)
        for path in lost.bundle.paths { try FileManager.default.removeItem(atPath: path) }
        say("", "... and the stick is lost on the way (the demo deletes the file)")

        try app.run("UPDATE distributions SET collected = 1 WHERE id = 'KSM-D00011'")
        say("site-kisumu", "a week later, marks distribution KSM-D00011 as collected")
        line("The next round:")
        let nairobiBundle = try exportSite(try NodeDirectory.load(siteDirectory("site-nairobi"))).bundle.paths
        let kisumuBundle = try exportSite(kisumu).bundle.paths
        say("", "(a bundle carries every change the hub has not confirmed: the lost bundle's too)")
        try importAtHub(nairobiBundle)
        guard try importAtHub(kisumuBundle).missedSequences != nil else {
            line("!! the hub did not notice the missing bundle")
            throw ExitCode(1)
        }
        let again = try NodeDirectory.load(hubDirectory).hubEngine().importBundle(paths: kisumuBundle)
        say(
            "hub",
            "opens \(name(kisumuBundle[0])) again (a stick copied twice): "
                + (again.status == .alreadyApplied ? "already applied, nothing changes" : again.status.rawValue))
        var returns: [String: [String]] = [:]
        for site in sites { returns[site.id] = try exportReturn(for: site.id).bundle.paths }
        for site in sites { try importAtSite(site.id, returns[site.id]!) }
    }

    /// Every site exports, the hub imports each bundle, writes a return bundle per site, every site imports its own.
    private func exchange() throws -> (bundles: [String: [String]], imports: [String: SiteImport]) {
        var bundles: [String: [String]] = [:]
        for site in sites {
            bundles[site.id] = try exportSite(try NodeDirectory.load(siteDirectory(site.id))).bundle.paths
        }
        for site in sites { try importAtHub(bundles[site.id]!) }
        var returns: [String: [String]] = [:]
        for site in sites { returns[site.id] = try exportReturn(for: site.id).bundle.paths }
        var imports: [String: SiteImport] = [:]
        for site in sites { imports[site.id] = try importAtSite(site.id, returns[site.id]!) }
        return (bundles, imports)
    }

    /// What `fieldsync bundle export` does at a site.
    private func exportSite(_ node: NodeDirectory) throws -> SiteExport {
        let export = try node.siteEngine().export(template: node.writerTemplate(directory: node.outboxDirectory))
        let changes =
            export.changes == 0
            ? "no changes, only what the site has received" : plural(export.changes, "change")
        say(
            node.configuration.id,
            "writes \(name(export.bundle.paths[0])): \(changes) (\(formatBytes(export.bundle.bytes)))")
        return export
    }

    /// What `fieldsync bundle import` does at the hub.
    @discardableResult
    private func importAtHub(_ paths: [String]) throws -> IngestReport {
        let report = try NodeDirectory.load(hubDirectory).hubEngine().importBundle(paths: paths)
        var parts = [report.applied == 0 ? "nothing to apply" : "\(report.applied) applied"]
        if report.unchanged > 0 { parts.append("\(report.unchanged) unchanged") }
        if report.conflicts > 0 {
            parts.append("\(plural(report.conflicts, "conflict")) (hub kept its version)")
        }
        if report.rejected > 0 { parts.append("\(report.rejected) set aside") }
        say("hub", "opens \(name(paths[0])): signature good, " + parts.joined(separator: ", "))
        if let missed = report.missedSequences {
            let list = BundleCommand.Import.text(missed)
            say(
                "",
                "note: bundle\(missed.count == 1 ? "" : "s") \(list) from \(report.site) never arrived; "
                    + "nothing is lost, bundle \(report.sequence) carries \(missed.count == 1 ? "its" : "their") changes"
            )
        }
        return report
    }

    /// What `fieldsync bundle export` does at the hub, for one site.
    private func exportReturn(for site: String) throws -> (bundle: BundleWriter.Result, plan: ReturnPlan, rows: Int) {
        let hub = try NodeDirectory.load(hubDirectory)
        let directory = "\(hub.outboxDirectory)/\(site)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let result = try hub.hubEngine().exportReturn(for: site, template: hub.writerTemplate(directory: directory))
        var text =
            "writes \(name(result.bundle.paths[0])): "
            + (result.rows == 0 ? "nothing new, only what the hub has received" : plural(result.rows, "change"))
            + " (\(formatBytes(result.bundle.bytes)))"
        let outcomes = result.plan.outcomes.count
        if outcomes > 0 { text += ", and what became of \(plural(outcomes, "row")) the site sent" }
        say("hub", text)
        return result
    }

    /// What `fieldsync bundle import` does at a site.
    @discardableResult
    private func importAtSite(_ site: String, _ paths: [String]) throws -> SiteImport {
        let report = try NodeDirectory.load(siteDirectory(site)).siteEngine().importBundle(paths: paths)
        var parts = [report.applied == 0 ? "nothing to apply" : "\(report.applied) applied"]
        if report.keptLocal > 0 { parts.append("\(report.keptLocal) kept for newer local edits") }
        let kept = report.outcomes.filter { $0.kind == .conflictHubKept }.count
        if kept > 0 { parts.append("told that the hub kept its own version of \(plural(kept, "row"))") }
        let rejected = report.outcomes.filter { $0.kind == .rejected }.count
        if rejected > 0 { parts.append("told that \(plural(rejected, "row")) were set aside") }
        say(site, "opens \(name(paths[0])): " + parts.joined(separator: ", "))
        return report
    }

    // MARK: Checking

    /// Compares every table of every site with the hub's live rows; prints one line per table.
    private func compareDatabases() throws -> Bool {
        step("All three databases now hold the same rows, value for value.")
        line("(The hub's own sync_* columns and its deleted-row markers, sync_deleted = 1, are left aside.)")
        let hub = try SQLiteConnection(path: hubDatabase)
        let tables = try NodeDirectory.load(hubDirectory).hubEngine().store.tables()
        var allSame = true
        for table in tables {
            let columns = table.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
            let order = table.primaryKey.map(Identifier.quoted).joined(separator: ", ")
            let select = "SELECT \(columns) FROM \(Identifier.quoted(table.name))"
            let hubRows = try hub.query("\(select) WHERE sync_deleted = 0 ORDER BY \(order)")
            var differing: [String] = []
            for site in sites {
                let rows = try SQLiteConnection(path: appDatabase(site.id)).query("\(select) ORDER BY \(order)")
                let same =
                    rows.count == hubRows.count
                    && zip(rows, hubRows).allSatisfy { zip($0, $1).allSatisfy { $0.isSameValue(as: $1) } }
                if !same { differing.append("\(site.id) (\(rows.count) rows)") }
            }
            let places = "at the hub, " + sites.map(\.id).joined(separator: " and ")
            let label = table.name.padding(toLength: 16, withPad: " ", startingAt: 0)
            if differing.isEmpty {
                line("\(label)\(hubRows.count) rows \(places): identical")
            } else {
                line("\(label)\(hubRows.count) rows at the hub: DIFFERENT at " + differing.joined(separator: ", "))
                allSame = false
            }
        }
        return allSame
    }

    private func tryItYourself() throws {
        let nairobi = siteDirectory("site-nairobi")
        let kisumu = siteDirectory("site-kisumu")
        let nairobiStatus = try NodeDirectory.load(nairobi).siteEngine().store.status()
        let kisumuStatus = try NodeDirectory.load(kisumu).siteEngine().store.status()
        let nairobiRecord = try NodeDirectory.load(hubDirectory).hubEngine().store.sites().first {
            $0.id == "site-nairobi"
        }
        let bundle =
            exampleBundle
            ?? "\(nairobi)/bundles/outbox/" + bundleName("site-nairobi", "hub", nairobiStatus.lastExportSequence)
        let nextExport =
            "\(kisumu)/bundles/outbox/" + bundleName("site-kisumu", "hub", kisumuStatus.lastExportSequence + 1)
        let nextReturn =
            "\(hubDirectory)/bundles/outbox/site-nairobi/"
            + bundleName("hub", "site-nairobi", (nairobiRecord?.lastReturnSequence ?? 0) + 1)
        print("\nTry it yourself (after 'make run' the tool is .build/debug/fieldsync; every command has --help):")
        let examples = [
            "status --dir \(hubDirectory)", "status --dir \(kisumu)", "bundle inspect \(bundle)",
            "bundle verify \(bundle) --keys-dir \(hubDirectory)/keys",
            "bundle verify \(bundle) --keys-dir \(hubDirectory)/keys --key \(hubDirectory)/keys/hub.key",
        ]
        for example in examples { printCommand("fieldsync \(example)") }
        print(
            """
            status shows every site's last bundles, pending changes and conflicts (at a site: its own view). inspect
            reads a bundle's label without any key; verify checks the sender's signature and every byte, and with the
            recipient's secret key (--key) also opens it and checks every row. To send a change of your own:
            """)
        print("  sqlite3 \(appDatabase("site-kisumu")) \\")
        print("     \"UPDATE beneficiaries SET phone = '+254700000001' WHERE id = 'KSM-00001'\"")
        for example in [
            "bundle export --dir \(kisumu)", "bundle import \(nextExport) --dir \(hubDirectory)",
            "bundle export --dir \(hubDirectory)", "bundle import \(nextReturn) --dir \(nairobi)",
        ] {
            printCommand("fieldsync \(example)")
        }
    }

    private func printCommand(_ text: String) {
        for line in wrapped(text) { print("  \(line)") }
    }

    // MARK: Helpers

    /// The hub store, where `hub init` puts it by default; HQ staff open it with `sqlite3`.
    private var hubDatabase: String { "\(hubDirectory)/hub.sqlite" }

    private func siteDirectory(_ id: String) -> String { "\(dir)/\(id)" }

    /// The field application's database, which the site node tracks.
    private func appDatabase(_ id: String) -> String { "\(dir)/\(id)/app.sqlite" }

    /// `"NBO-00005 (Fatuma Kiptoo)"`.
    private func person(_ id: String, in database: SQLiteConnection) throws -> String {
        let name = try database.scalar(
            "SELECT given_name || ' ' || family_name FROM beneficiaries WHERE id = ?", [.text(id)])?.textValue
        return name.map { "\(id) (\($0))" } ?? id
    }

    private func rowCounts(_ database: SQLiteConnection) throws -> String {
        try ["beneficiaries", "distributions", "assessments"].map { table in
            let count = try database.scalar("SELECT count(*) FROM \(table)")?.integerValue ?? 0
            return "\(count) \(table)"
        }.joined(separator: ", ")
    }

    /// A bundle's file name as `bundle export` writes it (unsplit).
    private func bundleName(_ sender: String, _ recipient: String, _ sequence: Int64) -> String {
        "\(sender)-to-\(recipient)-" + String(format: "%08lld", sequence) + ".fsb"
    }

    private func name(_ path: String) -> String { (path as NSString).lastPathComponent }

    private func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

    private func step(_ text: String) {
        stepNumber += 1
        print("\n\(stepNumber). \(text)")
    }

    private func line(_ text: String) { print("   \(text)") }

    /// A line said by one node (or by HQ), the name in a column of its own.
    private func say(_ who: String, _ text: String) {
        print("   \(who.padding(toLength: 14, withPad: " ", startingAt: 0))\(text)")
    }

    /// A command line, wrapped before options to stay within 120 columns, and what it is for.
    private func command(_ text: String, _ note: String = "") {
        var lines = wrapped("$ fieldsync \(text)")
        if !note.isEmpty {
            if lines[lines.count - 1].count + note.count + 2 <= 115 {
                lines[lines.count - 1] += "  \(note)"
            } else {
                lines.append("    \(note)")
            }
        }
        for text in lines { line(text) }
    }

    /// `text` broken before ` --` into lines of at most `width` characters, each but the last ending in a backslash
    /// as in a shell script.
    private func wrapped(_ text: String, width: Int = 110) -> [String] {
        var lines: [String] = []
        var current = ""
        for (index, piece) in text.components(separatedBy: " --").enumerated() {
            let next = index == 0 ? piece : " --" + piece
            if !current.isEmpty && current.count + next.count > width {
                lines.append(current + " \\")
                current = "   " + next.dropFirst()
            } else {
                current += next
            }
        }
        return lines + [current]
    }

    /// Runs `body` with standard output silenced: the real commands set the nodes up, the demo tells the story.
    /// Errors still reach standard error.
    private func quietly(_ body: () throws -> Void) throws {
        fflush(nil)
        let saved = dup(STDOUT_FILENO)
        let null = open("/dev/null", O_WRONLY)
        if saved >= 0 && null >= 0 { dup2(null, STDOUT_FILENO) }
        if null >= 0 { close(null) }
        defer {
            fflush(nil)
            if saved >= 0 {
                dup2(saved, STDOUT_FILENO)
                close(saved)
            }
        }
        try body()
    }
}

/// The demo's sample data: the tables a registration application keeps at a field site.
///
/// The rows exercise what must survive a trip exactly: NULL next to empty text, tabs, newlines and backslashes,
/// non-Latin text, blobs, exact decimals and time zone offsets.
enum DemoData {
    /// One site's share of the sample rows. Keys start with the site's prefix, so sites never pick the same key.
    struct Site {
        var id: String
        var prefix: String
        var region: String
        var beneficiaries: Int
        var nameOffset: Int
    }

    static let schema = """
        CREATE TABLE beneficiaries (
            id TEXT PRIMARY KEY, given_name TEXT NOT NULL, family_name TEXT NOT NULL, birth_date DATE,
            household_size INTEGER, region_code TEXT, status TEXT, phone TEXT, notes TEXT, photo BLOB,
            registered_at TIMESTAMPTZ);
        CREATE TABLE distributions (
            id TEXT PRIMARY KEY, beneficiary_id TEXT NOT NULL REFERENCES beneficiaries(id),
            item TEXT NOT NULL, quantity NUMERIC_TEXT, distribution_date DATE, collected BOOLEAN);
        CREATE TABLE assessments (
            id TEXT PRIMARY KEY, beneficiary_id TEXT REFERENCES beneficiaries(id), score REAL,
            answers JSON_TEXT, assessed_at TIMESTAMPTZ);
        """

    /// `NBO-00005` for `("NBO-", 5)`.
    static func key(_ prefix: String, _ number: Int) -> String {
        prefix + String(format: "%05d", number)
    }

    /// Creates the tables in `db` and fills them with `site`'s rows: its beneficiaries, one and a half
    /// distributions per beneficiary, and an assessment of every fourth one.
    static func create(in db: SQLiteConnection, for site: Site) throws {
        try db.execute(schema)
        let givenNames = [
            "Amina", "Joseph", "Wanjiru", "Otieno", "Fatuma", "Kamau", "Achieng", "Mohamed", "Zawadi",
            "Émile",
        ]
        let familyNames = ["Odhiambo", "Mwangi", "Njeri", "Hassan", "Kiptoo", "Chebet", "Abdi", "Mutua"]
        let count = site.beneficiaries
        try db.withTransaction {
            let beneficiary = try db.prepare("INSERT INTO beneficiaries VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            for index in 0..<count {
                let shifted = index + site.nameOffset
                let notes: Value =
                    switch index % 4 {
                    case 0: .null
                    case 1: .text("")
                    case 2:
                        .text("Lives near the water point.\tCall before visiting.\nSpeaks Kiswahili; \\ not English.")
                    default: .text("Registered at the \(site.region.capitalized) office — 日本語 test 🎉")
                    }
                try beneficiary.bind([
                    .text(key("\(site.prefix)-", index + 1)), .text(givenNames[shifted % givenNames.count]),
                    .text(familyNames[shifted % familyNames.count]),
                    .text(String(format: "19%02d-%02d-%02d", 50 + shifted % 50, 1 + shifted % 12, 1 + shifted % 28)),
                    .integer(Int64(1 + shifted % 9)), .text(site.region),
                    .text(index % 10 == 9 ? "inactive" : "active"),
                    index % 3 == 2 ? .null : .text("+2547\(String(format: "%08d", shifted * 104_729 % 100_000_000))"),
                    notes,
                    index % 5 == 0 ? .blob([0x89, 0x50, 0x4e, 0x47, 0x00, 0x0d, 0x0a, UInt8(index % 256)]) : .null,
                    .text(String(format: "2026-%02d-%02d 09:%02d:00+03", 1 + index % 6, 1 + index % 28, index % 60)),
                ])
                while try beneficiary.step() {}
            }
            let distribution = try db.prepare("INSERT INTO distributions VALUES (?,?,?,?,?,?)")
            for index in 0..<(count * 3 / 2) {
                try distribution.bind([
                    .text(key("\(site.prefix)-D", index + 1)), .text(key("\(site.prefix)-", index % count + 1)),
                    .text(["maize flour", "cooking oil", "soap", "blanket", "water jerrycan"][index % 5]),
                    .text(["25.0", "3.50", "2", "1", "0.125"][index % 5]),
                    .text(String(format: "2026-%02d-%02d", 1 + index % 6, 1 + index % 28)),
                    .integer(Int64(index % 2)),
                ])
                while try distribution.step() {}
            }
            let assessment = try db.prepare("INSERT INTO assessments VALUES (?,?,?,?,?)")
            for (number, index) in stride(from: 0, to: count, by: 4).enumerated() {
                try assessment.bind([
                    .text(key("\(site.prefix)-A", number + 1)), .text(key("\(site.prefix)-", index + 1)),
                    number == 0 ? .null : .real(Double(index) / 7),
                    .text("{\"shelter\": \"\(index % 3 == 0 ? "tent" : "house")\", \"water_litres\": \(index * 5)}"),
                    .text(
                        "2026-06-\(String(format: "%02d", 1 + index % 28)) 14:00:00\(index % 8 == 0 ? "+00" : "+03")"),
                ])
                while try assessment.step() {}
            }
        }
    }
}
