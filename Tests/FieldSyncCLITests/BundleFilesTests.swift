import FieldSyncTesting
import Foundation
import Testing

/// `bundle export --part-size`, unfinished part files, `bundle import --from` and the inbox, and a site with
/// nothing to send, through the real `fieldsync` binary.
@Suite struct BundleFilesTests {
    static let schema = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"

    /// 300 rows of 400 random hex digits: about 60 KB once compressed, several parts of 8 KiB.
    static let bulkRows = """
        INSERT INTO notes (id, body) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
        SELECT x, hex(randomblob(200)) FROM c;
        """

    /// A hub (embedded SQLite, or a fresh PostgreSQL database) syncing `notes`, and `site-a` holding `rows`.
    static func network(postgres: Bool = false, rows: String = "") throws -> (CLINetwork, TestPostgres?) {
        let database = postgres ? try TestPostgres() : nil
        let network = try CLINetwork(store: database?.url)
        try network.succeed([
            "hub", "add-table", "--dir", "hub", "notes", "--column", "id:integer:notnull", "--column",
            "body:text:notnull", "--primary-key", "id",
        ])
        try network.addSite("site-a", schema: schema + rows)
        return (network, database)
    }

    /// Regular files in `folder` whose names end in `.part`.
    static func partFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            name.hasSuffix(".part")
                && (try? FileManager.default.attributesOfItem(atPath: "\(folder)/\(name)")[.type] as? FileAttributeType)
                    == .typeRegular
        }
    }

    static func names(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    @Test func partSizeSplitsTheBundleAndOverridesTheConfiguration() throws {
        let (network, _) = try Self.network(rows: Self.bulkRows)
        try ExchangeCommandTests.rewriteConfiguration(at: network.siteDirectory("site-a")) {
            $0["part_size_limit"] = 8000
        }
        let out = try network.directory.directory("out")
        let split = try network.succeed(["bundle", "export", "--dir", "site-a", "--out", out, "--part-size", "8K"])
        let parts = try Self.names(out)
        #expect(parts.count > 3, "\(split.stdout)")
        #expect(parts.allSatisfy { $0.contains("-of-\(parts.count).fsb") }, "\(parts)")
        for part in parts {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: "\(out)/\(part)")[.size] as? Int)
            #expect(size <= 8192)
        }
        try network.importAtHub(parts.map { "\(out)/\($0)" })
        #expect(try network.hubRows("notes", columns: "count(*)", order: "1") == ["300"])

        // --part-size wins over part_size_limit (8000 would split this bundle too).
        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE notes SET body = body || 'x'")
        let whole = try network.directory.directory("whole")
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", whole, "--part-size", "650M"])
        #expect(try Self.names(whole).count == 1)
    }

    @Test(arguments: ["3.9G", "650M", "1024K", "4000000000", "8k", "1T"])
    func partSizeAcceptsSizes(size: String) throws {
        let (network, _) = try Self.network(rows: "INSERT INTO notes VALUES (1, 'one');")
        let out = try network.directory.directory("out")
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", out, "--part-size", size])
        #expect(try Self.names(out).count == 1)
    }

    @Test(arguments: ["abc", "12Q", "-5", "1.2.3", "G", "", "4K", "8191", "2T", "1e9", "99999999999999999999999"])
    func partSizeRefusesNonsenseNamingTheOption(size: String) throws {
        let (network, _) = try Self.network(rows: "INSERT INTO notes VALUES (1, 'one');")
        let out = try network.directory.directory("out")
        let refused = try network.fieldsync(["bundle", "export", "--dir", "site-a", "--out", out, "--part-size", size])
        #expect(refused.status == 64, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("--part-size"), "\(refused.stderr)")
        #expect(try Self.names(out).isEmpty)
    }

    /// An export that fails after writing part 1 (part 2's name is taken by a folder, so it cannot be created)
    /// removes what it wrote: no `.part` file stays, and the next export writes the whole bundle.
    @Test func failedExportMidWriteLeavesNoPartFile() throws {
        let (network, _) = try Self.network(rows: Self.bulkRows)
        let out = try network.directory.directory("out")
        let blocker = "\(out)/site-a-to-hub-00000001.2.fsb.part"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        let failed = try network.fieldsync(["bundle", "export", "--dir", "site-a", "--out", out, "--part-size", "8K"])
        #expect(failed.status == 1, "\(failed.stdout)")
        #expect(failed.stderr.contains("error:"), "\(failed.stderr)")
        #expect(try Self.partFiles(out).isEmpty, "\((try? Self.names(out)) ?? [])")
        #expect(try Self.names(out) == ["site-a-to-hub-00000001.2.fsb.part"])

        try FileManager.default.removeItem(atPath: blocker)
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", out, "--part-size", "8K"])
        let parts = try Self.names(out)
        #expect(try Self.partFiles(out).isEmpty)
        try network.importAtHub(parts.map { "\(out)/\($0)" })
        #expect(try network.hubRows("notes", columns: "count(*)", order: "1") == ["300"])
    }

    /// An export that fails on a site's own outbox leaves no `.part` there either.
    @Test func failedExportIntoTheOutboxLeavesNoPartFile() throws {
        let (network, _) = try Self.network(rows: Self.bulkRows)
        let outbox = network.directory.file("site-a/bundles/outbox")
        try FileManager.default.createDirectory(
            atPath: "\(outbox)/site-a-to-hub-00000001.3.fsb.part", withIntermediateDirectories: true)
        let failed = try network.fieldsync(["bundle", "export", "--dir", "site-a", "--part-size", "8K"])
        #expect(failed.status == 1, "\(failed.stdout)")
        #expect(try Self.partFiles(outbox).isEmpty, "\((try? Self.names(outbox)) ?? [])")
        #expect(!(try Self.names(outbox)).contains { $0.hasSuffix(".fsb") })
    }

    /// Unfinished part files that a killed export left in the outbox are removed by the next export, which names
    /// them; other files are left alone. At the hub, in every site's outbox folder.
    @Test(arguments: [false, true])
    func nextExportSweepsStrayPartFiles(postgres: Bool) throws {
        guard !postgres || TestPostgres.isAvailable else { return }
        let (network, database) = try Self.network(postgres: postgres, rows: "INSERT INTO notes VALUES (1, 'one');")
        defer { _ = database }
        let outbox = network.directory.file("site-a/bundles/outbox")
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        for name in ["site-a-to-hub-00000007.1.fsb.part", "site-a-to-hub-00000008.fsb.part", "notes.part"] {
            try Data("half".utf8).write(to: URL(fileURLWithPath: "\(outbox)/\(name)"))
        }
        let export = try network.succeed(["bundle", "export", "--dir", "site-a"])
        #expect(export.stderr.contains("removed 2 unfinished bundle files left by an interrupted export"))
        #expect(export.stderr.contains("site-a-to-hub-00000007.1.fsb.part"), "\(export.stderr)")
        #expect(try Self.partFiles(outbox) == ["notes.part"])
        #expect(try Self.names(outbox).contains("site-a-to-hub-00000001.fsb"))

        let hubOutbox = network.directory.file("hub/bundles/outbox/site-a")
        try FileManager.default.createDirectory(atPath: hubOutbox, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: URL(fileURLWithPath: "\(hubOutbox)/hub-to-site-a-00000004.fsb.part"))
        let hubExport = try network.succeed(["bundle", "export", "--dir", "hub"])
        #expect(hubExport.stderr.contains("removed 1 unfinished bundle file"), "\(hubExport.stderr)")
        #expect(try Self.partFiles(hubOutbox).isEmpty)
    }

    /// A real export killed mid-write (as soon as a `.part` file shows, if it shows before the export ends):
    /// whatever it left is removed by the next export, which names it.
    @Test func killedExportIsSweptByTheNextOne() throws {
        let rows = Self.bulkRows.replacingOccurrences(of: "x < 300", with: "x < 3000")
        let (network, _) = try Self.network(rows: rows)
        let outbox = network.directory.file("site-a/bundles/outbox")
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: FieldSyncCommand.executable)
        process.arguments = ["bundle", "export", "--dir", network.siteDirectory("site-a"), "--part-size", "8K"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<20_000 where process.isRunning {
            if try !Self.partFiles(outbox).isEmpty { break }
            usleep(500)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let left = try Self.partFiles(outbox)
        let next = try network.succeed(["bundle", "export", "--dir", "site-a", "--part-size", "8K", "--force"])
        if !left.isEmpty {
            #expect(next.stderr.contains("left by an interrupted export"), "\(next.stderr)")
        }
        #expect(try Self.partFiles(outbox).isEmpty)
    }

    /// `--from DIR` takes every bundle there in order, ignores `*.part` and other files, moves what it applied to
    /// `bundles/processed/` and what it refused to `bundles/rejected/` with a reason file; a split bundle with a
    /// part missing waits.
    @Test(arguments: [false, true])
    func importFromFolderTakesEveryBundleAndFilesThemAway(postgres: Bool) throws {
        guard !postgres || TestPostgres.isAvailable else { return }
        let (network, database) = try Self.network(postgres: postgres, rows: Self.bulkRows)
        defer { _ = database }
        let drop = try network.directory.directory("drop")
        // Two bundles, the second split; given in one folder they are applied in sequence order.
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", drop])
        try SQLiteShell.run(network.siteDatabase("site-a"), "INSERT INTO notes VALUES (1000, 'late')")
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", drop, "--part-size", "8K"])
        try Data("not a bundle".utf8).write(to: URL(fileURLWithPath: "\(drop)/bad.fsb"))
        try Data("still copying".utf8).write(to: URL(fileURLWithPath: "\(drop)/incoming.fsb.part"))
        try Data("hello".utf8).write(to: URL(fileURLWithPath: "\(drop)/readme.txt"))

        let result = try network.fieldsync(["bundle", "import", "--dir", "hub", "--from", drop, "--json"])
        #expect(result.status == 1, "\(result.stderr)")  // bad.fsb was refused
        let entries = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let statuses = entries.map { ($0["status"] as? String ?? "?", $0["sequence"] as? Int ?? 0) }
        #expect(statuses.map(\.0) == ["refused", "applied", "applied"], "\(result.stdout)")
        #expect(statuses.map(\.1) == [0, 1, 2])
        #expect(try Self.names(drop) == ["incoming.fsb.part", "readme.txt"])
        let processed = try Self.names(network.directory.file("hub/bundles/processed"))
        #expect(processed.contains("site-a-to-hub-00000001.fsb"))
        #expect(processed.filter { $0.hasPrefix("site-a-to-hub-00000002.") }.count > 3, "\(processed)")
        let rejected = try Self.names(network.directory.file("hub/bundles/rejected"))
        #expect(rejected == ["bad.fsb", "bad.fsb.reason"])
        let reason = try String(contentsOfFile: network.directory.file("hub/bundles/rejected/bad.fsb.reason"))
        #expect(reason.contains("bad.fsb"), "\(reason)")
        if !postgres { #expect(try network.hubRows("notes", columns: "count(*)", order: "1") == ["301"]) }

        // A split bundle with a part still missing waits in the folder, and is taken once it is complete.
        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE notes SET body = 'b' || body")
        let staging = try network.directory.directory("staging")
        try network.succeed(["bundle", "export", "--dir", "site-a", "--out", staging, "--part-size", "8K"])
        let parts = try Self.names(staging)
        try FileManager.default.moveItem(atPath: "\(staging)/\(parts[0])", toPath: "\(drop)/\(parts[0])")
        let waiting = try network.fieldsync(["bundle", "import", "--dir", "hub", "--from", drop])
        #expect(waiting.status == 0, "\(waiting.stderr)")
        #expect(waiting.stdout.contains("left in place until every part is there"), "\(waiting.stdout)")
        #expect(try Self.names(drop).contains(parts[0]))
        for part in parts.dropFirst() {
            try FileManager.default.moveItem(atPath: "\(staging)/\(part)", toPath: "\(drop)/\(part)")
        }
        let complete = try network.succeed(["bundle", "import", "--dir", "hub", "--from", drop])
        #expect(complete.stdout.contains("applied bundle 3 from site-a"), "\(complete.stdout)")
        #expect(try Self.names(drop) == ["incoming.fsb.part", "readme.txt"])
    }

    /// With no files and no `--from`, a node imports from its inbox; files named on the command line stay put.
    @Test func importWithoutFilesReadsTheInbox() throws {
        let (network, _) = try Self.network(rows: "INSERT INTO notes VALUES (1, 'one');")
        let empty = try network.succeed(["bundle", "import", "--dir", "hub"])
        #expect(empty.stdout.contains("No bundles in"), "\(empty.stdout)")

        try network.succeed(["bundle", "export", "--dir", "site-a"])
        let sent = network.directory.file("site-a/bundles/outbox/site-a-to-hub-00000001.fsb")
        try FileManager.default.copyItem(atPath: sent, toPath: network.directory.file("hub/bundles/inbox/a.fsb"))
        let hub = try network.succeed(["bundle", "import", "--dir", "hub"])
        #expect(hub.stdout.contains("applied bundle 1 from site-a"), "\(hub.stdout)")
        #expect(hub.stdout.contains("moved to"), "\(hub.stdout)")
        #expect(try Self.names(network.directory.file("hub/bundles/inbox")).isEmpty)
        #expect(try Self.names(network.directory.file("hub/bundles/processed")) == ["a.fsb"])

        // The same bundle dropped again: already applied, filed beside the first copy.
        try FileManager.default.copyItem(atPath: sent, toPath: network.directory.file("hub/bundles/inbox/a.fsb"))
        let again = try network.succeed(["bundle", "import", "--dir", "hub"])
        #expect(again.stdout.contains("already applied"), "\(again.stdout)")
        #expect(try Self.names(network.directory.file("hub/bundles/processed")) == ["a-2.fsb", "a.fsb"])

        try network.succeed(["bundle", "export", "--dir", "hub"])
        let returned = network.directory.file("hub/bundles/outbox/site-a/hub-to-site-a-00000001.fsb")
        try FileManager.default.copyItem(
            atPath: returned, toPath: network.directory.file("site-a/bundles/inbox/hub-to-site-a-00000001.fsb"))
        let site = try network.succeed(["bundle", "import", "--dir", "site-a", "--json"])
        #expect(site.stdout.contains("\"status\" : \"applied\""), "\(site.stdout)")
        #expect(site.stdout.contains("bundles/processed/hub-to-site-a-00000001.fsb"), "\(site.stdout)")

        // Named files are never moved.
        try network.succeed(["bundle", "import", "--dir", "site-a", returned])
        #expect(FileManager.default.fileExists(atPath: returned))
        let both = try network.fieldsync(["bundle", "import", "--dir", "site-a", "--from", "x", returned])
        #expect(both.status == 64)
    }

    /// A site writes no bundle when it has nothing to tell the hub, and says so; `--force` writes one anyway.
    @Test(arguments: [false, true])
    func siteWithNothingToSendWritesNoBundle(postgres: Bool) throws {
        guard !postgres || TestPostgres.isAvailable else { return }
        let (network, database) = try Self.network(postgres: postgres, rows: "INSERT INTO notes VALUES (1, 'one');")
        defer { _ = database }
        let outbox = network.directory.file("site-a/bundles/outbox")
        // The first bundle is always written.
        try network.succeed(["bundle", "export", "--dir", "site-a"])
        try network.importAtHub(["\(outbox)/site-a-to-hub-00000001.fsb"])
        // Its change is not acknowledged yet: the next export sends it again.
        try network.succeed(["bundle", "export", "--dir", "site-a"])
        #expect(try Self.names(outbox).contains("site-a-to-hub-00000002.fsb"))
        try network.round()
        // The return bundle acknowledged the change; the site's next bundle tells the hub it got the return bundle.
        try network.succeed(["bundle", "export", "--dir", "site-a"])
        #expect(try Self.names(outbox).contains("site-a-to-hub-00000004.fsb"), "\((try? Self.names(outbox)) ?? [])")
        try network.importAtHub(["\(outbox)/site-a-to-hub-00000004.fsb"])

        let before = try Self.names(outbox)
        let idle = try network.succeed(["bundle", "export", "--dir", "site-a"])
        #expect(idle.stdout.contains("Nothing to send"), "\(idle.stdout)")
        let idleJSON = try network.succeed(["bundle", "export", "--dir", "site-a", "--json"])
        let written = try JSONSerialization.jsonObject(with: Data(idleJSON.stdout.utf8)) as? [Any]
        #expect(written?.isEmpty == true, "\(idleJSON.stdout)")
        #expect(try Self.names(outbox) == before)

        let forced = try network.succeed(["bundle", "export", "--dir", "site-a", "--force"])
        #expect(forced.stdout.contains("Wrote bundle 5"), "\(forced.stdout)")

        try SQLiteShell.run(network.siteDatabase("site-a"), "INSERT INTO notes VALUES (2, 'two')")
        let changed = try network.succeed(["bundle", "export", "--dir", "site-a"])
        #expect(changed.stdout.contains("Wrote bundle 6 for hub: 1 change"), "\(changed.stdout)")
        let hubForce = try network.fieldsync(["bundle", "export", "--dir", "hub", "--force"])
        #expect(hubForce.status == 1)
        #expect(hubForce.stderr.contains("--force is for a site"), "\(hubForce.stderr)")
    }
}
