import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

/// What a person (or a script with --json) reads when a command fails: one exit-code convention, plain messages
/// naming the file, and one JSON error shape.
@Suite struct ErrorReportingTests {
    static let schema = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');"

    /// Neither ArgumentParser's generic usage text nor Foundation's error text reaches the user.
    static func expectPlainRefusal(_ output: FieldSyncCommand.Output, _ fragment: String) {
        #expect(output.status == 1, "\(output.stdout) \(output.stderr)")
        #expect(output.stderr.hasPrefix("error: "), "\(output.stderr)")
        #expect(output.stderr.contains(fragment), "\(output.stderr)")
        for foreign in ["Usage:", "NSCocoaErrorDomain", "Error Domain", "UserInfo", "Error Code"] {
            #expect(!output.stderr.contains(foreign), "\(output.stderr)")
        }
    }

    @Test func validationErrorsOfARunningCommandExitOneAndUsageErrorsSixtyFour() throws {
        let network = try CLINetwork()
        let directory = network.directory
        Self.expectPlainRefusal(
            try network.fieldsync(["hub", "init", "--dir", "hub2", "--id", "bad id"]), "'bad id' is not a valid node id"
        )
        Self.expectPlainRefusal(
            try network.fieldsync([
                "site", "init", "--dir", "s", "--id", "s", "--db", directory.file("missing.sqlite"),
                "--hub-public-key", network.hubPublicKey,
            ]), "missing.sqlite does not exist")
        Self.expectPlainRefusal(
            try network.fieldsync([
                "site", "init", "--dir", "s", "--id", "s", "--db", try directory.directory("folder.sqlite"),
                "--hub-public-key", network.hubPublicKey,
            ]), "folder.sqlite is a folder")
        Self.expectPlainRefusal(
            try network.fieldsync(["hub", "add-table", "--dir", "hub", "x", "--column", "id:nosuchtype"]),
            "--column declares one table and needs --primary-key")
        Self.expectPlainRefusal(try network.fieldsync(["demo", "--dir", "hub"]), "is not empty")

        // The command line itself is wrong: 64, with the subcommand's usage.
        let unknown = try network.fieldsync(["bundle", "export", "--dir", "hub", "--bogus"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("Usage: fieldsync bundle export"), "\(unknown.stderr)")
        let missing = try network.fieldsync(["hub", "add-site", "--dir", "hub", "site-x"])
        #expect(missing.status == 64)
        let contradictory = try network.fieldsync(["conflicts", "list", "--dir", "hub", "--pending", "--rejected"])
        #expect(contradictory.status == 64)

        // The convention is in --help.
        let help = try network.fieldsync(["--help"])
        #expect(help.stdout.contains("Exit status: 0"), "\(help.stdout)")
    }

    @Test func fileErrorsNameThePathAndTheCause() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: network.directory.file("taken")))

        Self.expectPlainRefusal(
            try network.fieldsync(["bundle", "export", "--dir", "site-a", "--out", "taken"]),
            "taken: is a file, not a folder")
        Self.expectPlainRefusal(
            try network.fieldsync(["bundle", "export", "--dir", "hub", "--out", "taken/deeper"]),
            "taken: is a file, not a folder")
        Self.expectPlainRefusal(
            try network.fieldsync(["hub", "init", "--dir", "taken/hub", "--id", "hub2"]),
            "taken: is a file, not a folder")
        Self.expectPlainRefusal(
            try network.fieldsync([
                "site", "init", "--dir", "taken", "--id", "site-z", "--db", network.siteDatabase("site-a"),
                "--hub-public-key", network.hubPublicKey,
            ]), "taken")
        Self.expectPlainRefusal(try network.fieldsync(["status", "--dir", "nowhere"]), "nowhere/fieldsync.json")
    }

    @Test func resolvingAnUnknownConflictNamesNoStoreEmbeddedHub() throws {
        let network = try CLINetwork()
        let output = try network.fieldsync(["conflicts", "resolve", "99999", "--dir", "hub", "--take", "hub"])
        Self.expectPlainRefusal(output, "no conflict 99999")
        #expect(output.stderr == "error: there is no conflict 99999 at this hub\n", "\(output.stderr)")
    }

    @Test(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
    func resolvingAnUnknownConflictNamesNoStorePostgresHub() throws {
        let database = try TestPostgres()
        let network = try CLINetwork(store: database.url)
        let output = try network.fieldsync(["conflicts", "resolve", "99999", "--dir", "hub", "--take", "hub"])
        Self.expectPlainRefusal(output, "no conflict 99999")
        #expect(!output.stderr.contains("postgresql://"), "\(output.stderr)")
        #expect(!output.stderr.contains(database.name), "\(output.stderr)")
    }

    /// Runs `fieldsync ARGUMENTS…` (with `--json`) and expects exit status 1 and the JSON error object on standard
    /// output.
    static func expectJSONRefusal(_ network: CLINetwork, _ arguments: [String]) throws {
        let output = try network.fieldsync(arguments)
        #expect(output.status == 1, "\(arguments)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
            "\(arguments): \(output.stdout)")
        let error = try #require(object["error"] as? [String: Any], "\(arguments)")
        #expect(error["code"] is String && error["domain"] is String && error["message"] is String)
    }

    @Test func importJSONListsEveryFileAndErrorsAreJSONObjects() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        let bundle = try network.exportSite("site-a")
        let garbage = network.directory.file("garbage.fsb")
        try Data("not a bundle at all".utf8).write(to: URL(fileURLWithPath: garbage))

        // One good bundle and one refused file: both are listed, the refused one with its error.
        let mixed = try network.fieldsync(["bundle", "import", "--dir", "hub", "--json", garbage, bundle])
        #expect(mixed.status == 1)
        let entries = try #require(
            try JSONSerialization.jsonObject(with: Data(mixed.stdout.utf8)) as? [[String: Any]], "\(mixed.stdout)")
        #expect(entries.count == 2)
        let refused = try #require(entries.first { $0["file"] as? String == garbage })
        #expect(refused["status"] as? String == "refused")
        let error = try #require(refused["error"] as? [String: Any])
        #expect(error["domain"] as? String == "bundle")
        #expect(error["file"] as? String == garbage)
        #expect((error["message"] as? String)?.isEmpty == false)
        let applied = try #require(entries.first { $0["file"] as? String == bundle })
        #expect(applied["status"] as? String == "applied")

        // A wholly failed import (the bundle now encrypted to someone else's hub) still lists its file.
        let wrong = try network.fieldsync(["bundle", "import", "--dir", "site-a", "--json", bundle])
        #expect(wrong.status == 1)
        let wrongEntries = try #require(
            try JSONSerialization.jsonObject(with: Data(wrong.stdout.utf8)) as? [[String: Any]], "\(wrong.stdout)")
        #expect(wrongEntries.count == 1)
        #expect(wrongEntries.first?["status"] as? String == "refused")
        #expect(wrongEntries.first?["error"] is [String: Any])

        // Any other command with --json prints {"error": {...}} on standard output.
        for arguments in [
            ["status", "--dir", "nowhere", "--json"], ["bundle", "inspect", garbage, "--json"],
            ["conflicts", "show", "99999", "--dir", "hub", "--json"], ["keys", "show", garbage, "--json"],
        ] {
            try Self.expectJSONRefusal(network, arguments)
        }
        let usage = try network.fieldsync(["status", "--dir", "hub", "--json", "--bogus"])
        #expect(usage.status == 64)
        let usageObject = try #require(
            try JSONSerialization.jsonObject(with: Data(usage.stdout.utf8)) as? [String: Any], "\(usage.stdout)")
        #expect((usageObject["error"] as? [String: Any])?["domain"] as? String == "usage")
    }

    /// `site init --json` and `site add-table --json` print a refusal as the JSON error object too, like every
    /// other command with `--json`.
    @Test func siteCommandsPrintTheirRefusalsAsJSONObjects() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(database, "CREATE VIEW everything AS SELECT 1 AS one")
        for arguments in [
            ["site", "add-table", "--dir", network.siteDirectory("site-a"), "everything", "--json"],
            ["site", "add-table", "--dir", network.siteDirectory("site-a"), "no_such_table", "--json"],
            [
                "site", "init", "--dir", network.siteDirectory("site-b"), "--id", "site-b", "--db", database,
                "--hub-public-key", network.hubPublicKey, "--json",
            ],
            [
                "site", "init", "--dir", network.siteDirectory("site-c"), "--id", "site-c", "--db",
                network.directory.file("missing.sqlite"), "--hub-public-key", network.hubPublicKey, "--json",
            ],
        ] {
            try Self.expectJSONRefusal(network, arguments)
        }
    }

    @Test func repeatedSingleValueOptionsAreRefusedAndSiteMayRepeat() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        try network.addSite("site-b", schema: Self.schema)

        let twice = try network.fieldsync(["bundle", "export", "--dir", "hub", "--out", "x", "--out=y"])
        #expect(twice.status == 64)
        #expect(twice.stderr.contains("--out was given more than once"), "\(twice.stderr)")
        #expect(!FileManager.default.fileExists(atPath: network.directory.file("x")))
        #expect(!FileManager.default.fileExists(atPath: network.directory.file("y")))
        let dirTwice = try network.fieldsync(["status", "--dir", "hub", "--dir", "site-a"])
        #expect(dirTwice.status == 64)

        // --site takes several sites: a return bundle for each, and only for them.
        let both = try network.fieldsync([
            "bundle", "export", "--dir", "hub", "--site", "site-a", "--site", "site-b", "--out", "ret", "--json",
        ])
        #expect(both.status == 0, "\(both.stderr)")
        let reports = try JSONDecoder().decode([ExportJSON].self, from: Data(both.stdout.utf8))
        #expect(reports.map(\.to) == ["site-a", "site-b"])
        let unknown = try network.fieldsync(["bundle", "export", "--dir", "hub", "--site", "site-z"])
        Self.expectPlainRefusal(unknown, "'site-z' is not a registered site")
    }

    /// A hub on a fresh PostgreSQL database with the table `t` of ``schema`` declared.
    static func postgresHubWithTable() throws -> (TestPostgres, CLINetwork) {
        let database = try TestPostgres()
        let network = try CLINetwork(store: database.url)
        try network.succeed([
            "hub", "add-table", "--dir", "hub", "t", "--column", "id:integer:notnull", "--column", "v:text",
            "--primary-key", "id",
        ])
        return (database, network)
    }

    @Test(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
    func postgresNoticesGoToTheLoggerNotStandardError() throws {
        let (database, network) = try Self.postgresHubWithTable()
        let connection = try database.connect()
        try connection.execute(
            """
            CREATE FUNCTION loud() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE WARNING 'a hub trigger speaks'; RETURN NEW; END $$;
            CREATE TRIGGER loud BEFORE INSERT OR UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION loud();
            """)
        try network.addSite("site-a", schema: Self.schema)
        let bundle = try network.exportSite("site-a")
        let quiet = try network.fieldsync(["bundle", "import", "--dir", "hub", bundle])
        #expect(quiet.status == 0, "\(quiet.stderr)")
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")

        try SQLiteShell.run(network.siteDatabase("site-a"), "UPDATE t SET v = 'y' WHERE id = 1")
        let next = try network.exportSite("site-a")
        let logged = try FieldSyncCommand.run(
            ["bundle", "import", "--dir", "hub", next], in: network.directory.path,
            environment: ["FIELDSYNC_LOG": "info"])
        #expect(logged.status == 0, "\(logged.stderr)")
        #expect(logged.stderr.contains("postgres.notice"), "\(logged.stderr)")
        #expect(logged.stderr.contains("a hub trigger speaks"), "\(logged.stderr)")
    }

    @Test(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
    func postgresDyingMidImportIsOneErrorLine() throws {
        let (database, network) = try Self.postgresHubWithTable()
        // The server process serving the import ends in the middle of it, as when PostgreSQL is shut down.
        let connection = try database.connect()
        try connection.execute(
            """
            CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
            CREATE TRIGGER die BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION die();
            """)
        try network.addSite("site-a", schema: Self.schema)
        let bundle = try network.exportSite("site-a")
        let output = try network.fieldsync(["bundle", "import", "--dir", "hub", bundle])
        Self.expectPlainRefusal(output, "terminating connection")
        let lines = output.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(output.stderr)")
        for noise in ["WARNING", "CONTEXT", "FATAL", "\t", "pg_terminate_backend"] {
            #expect(!output.stderr.contains(noise), "\(output.stderr)")
        }
        #expect(try connection.scalar("SELECT count(*) FROM public.t") == "0")
    }
}
