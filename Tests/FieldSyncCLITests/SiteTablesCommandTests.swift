import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Which tables a site tracks, through the real `fieldsync` binary: a site never takes a table it did not choose,
/// `site init` on a third-party application database (full-text and spatial indexes, views, odd names, keyless
/// tables, BLOBs, compound keys, foreign keys) tracks what it can and says why it skips the rest, and a failed or
/// corrected `site init` leaves a consistent node.
@Suite struct SiteTablesCommandTests {
    /// What `fieldsync status --json` prints at a site, with the fields about untracked tables and refusals.
    struct SiteStatus: Decodable {
        var hub: String
        var tables: [String]
        var pendingChanges: Int64
        var problems: Int64
        var untrackedTables: [String: Int64]
        var lastRefusal: String?
    }

    /// What `fieldsync site init --json` prints.
    struct InitJSON: Decodable {
        struct Skipped: Decodable {
            var table: String
            var reason: String
        }
        var tracked: [String]
        var skipped: [Skipped]
        var pendingChanges: Int64
    }

    static func siteStatus(_ network: CLINetwork, _ site: String) throws -> SiteStatus {
        try JSONDecoder().decode(
            SiteStatus.self,
            from: Data(network.succeed(["status", "--dir", network.siteDirectory(site), "--json"]).stdout.utf8))
    }

    /// A network whose hub runs on `kind`: the embedded store, or a fresh PostgreSQL database (`postgres` keeps
    /// it alive), with HQ's own connection to the hub's database.
    static func network(_ kind: HubStoreKind) throws -> (CLINetwork, any HubSQL, TestPostgres?) {
        let network = try CLINetwork()
        switch kind {
        case .sqlite:
            return (network, SQLiteHubSQL(connection: try SQLiteConnection(path: network.hubStore)), nil)
        case .postgres:
            let postgres = try TestPostgres()
            var url = try #require(URLComponents(string: postgres.serverURL))
            url.path = "/" + postgres.name
            try network.succeed(["hub", "init", "--dir", network.hubDirectory, "--id", "hub", "--store", url.string!])
            return (network, PostgresHubSQL(connection: try postgres.connect()), postgres)
        }
    }

    /// The issue's scenario: a site chose two tables; HQ later declares `staff_accounts`, which the site also has
    /// (with its own passwords), and inserts rows into it. The site never applies them, never starts tracking the
    /// table and never sends its passwords; it says so at import and in `status`, until a person there runs
    /// `site add-table`.
    @Test(arguments: HubStoreKind.available)
    func aTableTheSiteDidNotChooseNeverTravelsEitherWay(hub kind: HubStoreKind) throws {
        let (network, hubSQL, postgres) = try Self.network(kind)
        defer { withExtendedLifetime(postgres) {} }
        let hub = network.hubDirectory
        try network.succeed([
            "hub", "add-table", "--dir", hub, "beneficiaries", "--column", "id:text:notnull", "--column", "name:text",
            "--primary-key", "id",
        ])
        try network.succeed([
            "hub", "add-table", "--dir", hub, "distributions", "--column", "id:text:notnull",
            "--column", "beneficiary_id:text", "--column", "amount:integer", "--primary-key", "id",
        ])
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(
            database,
            """
            CREATE TABLE beneficiaries (id TEXT PRIMARY KEY NOT NULL, name TEXT);
            CREATE TABLE distributions (id TEXT PRIMARY KEY NOT NULL,
                beneficiary_id TEXT REFERENCES beneficiaries (id), amount INTEGER);
            CREATE TABLE staff_accounts (id INTEGER PRIMARY KEY, password TEXT);
            INSERT INTO beneficiaries VALUES ('b1', 'Amina');
            INSERT INTO distributions VALUES ('d1', 'b1', 20);
            INSERT INTO staff_accounts VALUES (1, 'site-secret-1'), (7, 'site-secret-7');
            """)
        let initialised = try network.succeed([
            "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
            "--hub-public-key", network.hubPublicKey, "--table", "beneficiaries", "--table", "distributions",
        ])
        #expect(initialised.stdout.contains("tables:          beneficiaries, distributions"), "\(initialised.stdout)")
        try network.succeed([
            "hub", "add-site", "--dir", hub, "site-a", "--public-key",
            network.directory.file("site-a/keys/site-a.pub"),
        ])
        try network.importAtHub([try network.exportSite("site-a")])
        try network.importAtSite("site-a", [try network.exportHub(for: "site-a")])

        // HQ declares the table and writes to it, one row with a key the site also uses.
        try network.succeed([
            "hub", "add-table", "--dir", hub, "staff_accounts", "--column", "id:integer:notnull",
            "--column", "password:text", "--primary-key", "id",
        ])
        try hubSQL.execute(
            "INSERT INTO staff_accounts (id, password) VALUES (1, 'hq-password-1'), (2, 'hq-password-2')")
        let imported = try network.importAtSite("site-a", [try network.exportHub(for: "site-a")])
        #expect(
            imported.stdout.contains(
                "note: 2 changes for table staff_accounts, which this site does not track, were not applied"),
            "\(imported.stdout)")

        let siteAccounts = ["1,'site-secret-1'", "7,'site-secret-7'"]
        #expect(try network.siteRows("site-a", "staff_accounts", columns: "id, password", order: "id") == siteAccounts)
        let status = try Self.siteStatus(network, "site-a")
        #expect(status.tables == ["beneficiaries", "distributions"])
        #expect(status.untrackedTables == ["staff_accounts": 2])
        let text = try network.succeed(["status", "--dir", network.siteDirectory("site-a")]).stdout
        #expect(text.contains("not tracked here:      staff_accounts (2 hub changes not applied"), "\(text)")
        let logged = try SQLiteShell.run(
            database, "SELECT message FROM _fieldsync_log WHERE operation = 'import' AND status = 'warning'")
        #expect(logged.contains("not applied, for tables this site does not track: staff_accounts (2)"), "\(logged)")
        #expect(
            try SQLiteShell.integer(
                database, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'staff_accounts'")
                == 0)

        // Local edits to the table are not captured, and the next rounds send nothing of it.
        try SQLiteShell.run(database, "UPDATE staff_accounts SET password = 'site-secret-1b' WHERE id = 1")
        try network.importAtHub([try network.exportSite("site-a")])
        try network.importAtSite("site-a", [try network.exportHub(for: "site-a")])
        try network.importAtHub([try network.exportSite("site-a")])
        let hubAccounts = try hubSQL.query("SELECT id, password FROM staff_accounts WHERE NOT sync_deleted ORDER BY id")
        #expect(hubAccounts.map { $0.map(\.jsonText) } == [["1", "\"hq-password-1\""], ["2", "\"hq-password-2\""]])
        #expect(
            try network.siteRows("site-a", "staff_accounts", columns: "id, password", order: "id")
                == ["1,'site-secret-1b'", "7,'site-secret-7'"])

        // A person at the site chooses the table: its rows now travel in the next export.
        let added = try network.succeed([
            "site", "add-table", "--dir", network.siteDirectory("site-a"), "staff_accounts",
        ])
        #expect(added.stdout.contains("now tracks staff_accounts"), "\(added.stdout)")
        let after = try Self.siteStatus(network, "site-a")
        #expect(after.tables.contains("staff_accounts"))
        #expect(after.untrackedTables.isEmpty)
        #expect(after.pendingChanges == 2)
    }

    /// A STRICT table's `ANY` column keeps each value's own kind (integer, real, text, BLOB): `site init` tracks it
    /// as type `any`, so every row travels to the hub and back instead of being left out as "not numeric". A
    /// PostgreSQL hub cannot hold such a column and says so when the table is declared.
    @Test(arguments: HubStoreKind.available)
    func anAnyColumnOfAStrictTableCarriesEveryKindOfValue(hub kind: HubStoreKind) throws {
        let (network, hubSQL, postgres) = try Self.network(kind)
        defer { withExtendedLifetime(postgres) {} }
        let declared = try network.fieldsync([
            "hub", "add-table", "--dir", network.hubDirectory, "readings", "--column", "id:integer:notnull",
            "--column", "reading:any", "--primary-key", "id",
        ])
        if kind == .postgres {
            #expect(declared.status == 1)
            #expect(declared.stderr.contains("has no declared type or is declared ANY"), "\(declared.stderr)")
            return
        }
        #expect(declared.status == 0, "\(declared.stderr)")
        try network.addSite(
            "site-a",
            schema: """
                CREATE TABLE readings (id INTEGER PRIMARY KEY, reading ANY) STRICT;
                INSERT INTO readings VALUES (1, 5), (2, 2.5), (3, 'about 4'), (4, x'00ff'), (5, NULL);
                """)
        let database = network.siteDatabase("site-a")
        #expect(
            try SQLiteShell.run(database, "SELECT schema_json FROM _fieldsync_tables WHERE name = 'readings'")
                .contains("\"type\":\"any\""))
        try network.round()
        #expect(try Self.siteStatus(network, "site-a").problems == 0)
        #expect(try Self.siteStatus(network, "site-a").pendingChanges == 0)
        let hubRows = try hubSQL.query("SELECT id FROM readings WHERE NOT sync_deleted ORDER BY id")
        #expect(hubRows.count == 5)

        // And back: the hub's BLOB and text values arrive with their kind.
        try hubSQL.execute("UPDATE readings SET reading = '7 or so' WHERE id = 1")
        try network.round()
        #expect(
            try network.siteRows("site-a", "readings", columns: "id, typeof(reading), reading", order: "id") == [
                "1,'text','7 or so'", "2,'real',2.5", "3,'text','about 4'", "4,'blob',X'00ff'", "5,'null',NULL",
            ])
    }

    /// Generated columns, `WITHOUT ROWID` and `STRICT` tables and a rowid-alias key, written through the `sqlite3`
    /// shell after `site init`: the generated columns are left out of the tracked schema (each side computes them),
    /// the rest travels to the hub and back.
    @Test(arguments: HubStoreKind.available)
    func generatedColumnsAndWithoutRowidTablesTravel(hub kind: HubStoreKind) throws {
        let (network, hubSQL, postgres) = try Self.network(kind)
        defer { withExtendedLifetime(postgres) {} }
        let hub = network.hubDirectory
        try network.succeed([
            "hub", "add-table", "--dir", hub, "items", "--column", "id:integer:notnull", "--column", "price:real",
            "--column", "qty:integer", "--column", "name:text", "--primary-key", "id",
        ])
        try network.succeed([
            "hub", "add-table", "--dir", hub, "codes", "--column", "code:text:notnull", "--column", "n:integer:notnull",
            "--column", "label:text", "--primary-key", "code,n",
        ])
        try network.addSite(
            "site-a",
            schema: """
                CREATE TABLE items (id INTEGER PRIMARY KEY, price REAL, qty INTEGER,
                    total REAL GENERATED ALWAYS AS (price * qty) STORED, label TEXT AS (upper(name)), name TEXT)
                    STRICT;
                CREATE TABLE codes (code TEXT, n INTEGER, label TEXT, PRIMARY KEY (code, n)) WITHOUT ROWID;
                INSERT INTO items (price, qty, name) VALUES (2.5, 4, 'pump');
                INSERT INTO codes VALUES ('a', 1, 'first');
                """)
        let database = network.siteDatabase("site-a")
        #expect(
            try SQLiteShell.run(database, "SELECT schema_json FROM _fieldsync_tables WHERE name = 'items'")
                .contains("total") == false)
        try SQLiteShell.run(
            database, "INSERT INTO items (price, qty, name) VALUES (1.0, 3, 'hose')",
            "UPDATE items SET qty = 5 WHERE id = 1", "INSERT INTO codes VALUES ('a', 2, 'second')",
            "UPDATE codes SET label = 'one' WHERE code = 'a' AND n = 1")
        try network.round()
        let items = try hubSQL.query("SELECT id, qty, name FROM items WHERE NOT sync_deleted ORDER BY id")
        #expect(items.map { $0.map(\.jsonText) } == [["1", "5", "\"pump\""], ["2", "3", "\"hose\""]])
        let codes = try hubSQL.query("SELECT code, n, label FROM codes WHERE NOT sync_deleted ORDER BY n")
        #expect(codes.map { $0.map(\.jsonText) } == [["\"a\"", "1", "\"one\""], ["\"a\"", "2", "\"second\""]])

        try hubSQL.execute("UPDATE items SET name = 'valve' WHERE id = 2")
        try hubSQL.execute("DELETE FROM codes WHERE n = 2")
        try network.round()
        #expect(
            try network.siteRows("site-a", "items", columns: "id, total, label", order: "id") == [
                "1,12.5,'PUMP'", "2,3.0,'VALVE'",
            ])
        #expect(try network.siteRows("site-a", "codes", columns: "code, n, label", order: "n") == ["'a',1,'one'"])
        #expect(try Self.siteStatus(network, "site-a").problems == 0)
    }

    /// Running `site init` again after `ALTER TABLE … ADD COLUMN` records the table's columns anew and makes its
    /// triggers anew, so that a change to the new column is captured (docs/sync.md §12.4).
    @Test func rerunningInitRecordsANewColumn() throws {
        let network = try CLINetwork()
        let database = network.siteDatabase("site-a")
        try network.addSite("site-a", schema: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        try SQLiteShell.run(database, "ALTER TABLE notes ADD COLUMN author TEXT")
        try network.succeed([
            "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
            "--hub-public-key", network.hubPublicKey,
        ])
        let recorded = try SQLiteShell.run(database, "SELECT schema_json FROM _fieldsync_tables WHERE name = 'notes'")
        #expect(recorded.contains("\"author\""), "\(recorded)")
        try SQLiteShell.run(
            database, "INSERT INTO notes VALUES (1, 'pump', 'Amina')", "UPDATE _fieldsync_counter SET acked = value")
        try SQLiteShell.run(database, "UPDATE notes SET author = 'Chen' WHERE id = 1")
        #expect(try Self.siteStatus(network, "site-a").pendingChanges == 1)
    }

    /// A table named with other capitals than the database's own name is not found (FieldSync carries names
    /// exactly), and the message gives the name as the database spells it.
    @Test func aTableNamedWithOtherCapitalsIsNamedAsTheDatabaseSpellsIt() throws {
        let network = try CLINetwork()
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(database, "CREATE TABLE Docs (id INTEGER PRIMARY KEY, body TEXT)")
        let output = try network.fieldsync([
            "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
            "--hub-public-key", network.hubPublicKey, "--table", "docs",
        ])
        #expect(output.status == 1)
        #expect(output.stderr.contains("table 'docs' does not exist; did you mean 'Docs'?"), "\(output.stderr)")
    }

    /// The tables of a database shaped like Datasette's test fixtures.
    static let fixtures = """
        CREATE TABLE simple_primary_key (id VARCHAR(30) PRIMARY KEY, content TEXT);
        CREATE TABLE compound_primary_key (pk1 VARCHAR(30), pk2 VARCHAR(30), content TEXT, PRIMARY KEY (pk1, pk2));
        CREATE TABLE compound_three_primary_keys (pk1 VARCHAR(30), pk2 VARCHAR(30), pk3 VARCHAR(30), content TEXT,
            PRIMARY KEY (pk1, pk2, pk3));
        CREATE TABLE binary_data (data BLOB);
        CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB, note TEXT);
        CREATE TABLE untyped_keys (k PRIMARY KEY, v);
        CREATE TABLE blob_keys (k BLOB PRIMARY KEY, v TEXT);
        CREATE TABLE "table/with/slashes.csv" (pk VARCHAR(30) PRIMARY KEY, content TEXT);
        CREATE TABLE "Table With Space In Name" (pk VARCHAR(30) PRIMARY KEY, content TEXT);
        CREATE TABLE "ünïcödé" (pk INTEGER PRIMARY KEY, content TEXT);
        CREATE TABLE "123_starts_with_digits" (content TEXT);
        CREATE TABLE reserved_columns (id INTEGER PRIMARY KEY, sync_version INTEGER);
        CREATE TABLE facet_cities (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE facetable (pk INTEGER PRIMARY KEY, state TEXT, _city_id INTEGER REFERENCES facet_cities (id));
        CREATE TABLE tags (tag TEXT, note TEXT);
        CREATE TABLE tagged (id INTEGER PRIMARY KEY, tag TEXT REFERENCES tags (tag));
        CREATE TABLE searchable (pk INTEGER PRIMARY KEY, text1 TEXT, text2 TEXT, "name with . and spaces" TEXT);
        CREATE VIRTUAL TABLE searchable_fts USING fts4 (text1, text2, [name with . and spaces], content="searchable");
        CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
        CREATE VIRTUAL TABLE docs_fts USING fts5 (title, body, content='docs', content_rowid='id');
        CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
            INSERT INTO docs_fts (rowid, title, body) VALUES (new.id, new.title, new.body);
        END;
        CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN
            INSERT INTO docs_fts (docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
        END;
        CREATE VIRTUAL TABLE places USING rtree (id, min_x, max_x, min_y, max_y);
        CREATE VIEW simple_view AS SELECT content, upper(content) AS upper_content FROM simple_primary_key;
        INSERT INTO simple_primary_key VALUES ('1', 'hello'), ('2', 'world'), ('3', '');
        INSERT INTO compound_primary_key VALUES ('a', 'b', 'c'), ('a/b', '.c-d', 'c');
        INSERT INTO compound_three_primary_keys VALUES ('a', 'a', 'a', 'aaa'), ('a', 'a', 'b', 'aab');
        INSERT INTO binary_data VALUES (x'5555'), (NULL);
        INSERT INTO blobs VALUES (1, x'00ff10', 'three bytes'), (2, x'', 'empty'), (3, NULL, 'none');
        INSERT INTO untyped_keys VALUES ('text', x'0102'), (4, 4.5), (x'beef', 'a BLOB key'), (NULL, 'a NULL key');
        INSERT INTO facet_cities VALUES (1, 'San Francisco');
        INSERT INTO facetable VALUES (1, 'CA', 1);
        INSERT INTO searchable VALUES (1, 'barry cat', 'terry dog', 'panther'), (2, 'terry dog', 'sara weasel', 'puma');
        INSERT INTO searchable_fts (rowid, text1, text2, [name with . and spaces])
            SELECT pk, text1, text2, "name with . and spaces" FROM searchable;
        INSERT INTO docs VALUES (1, 'Pumps', 'How to fix the pump');
        INSERT INTO places VALUES (1, 0, 1, 0, 1);
        """

    /// `site init` with no `--table` on a Datasette-like database: tracks the ordinary tables (compound keys,
    /// BLOB values, untyped keys), skips every other with its reason, and the full-text and spatial indexes keep
    /// working afterwards, through the `sqlite3` shell.
    @Test func initOnAThirdPartyDatabaseTracksWhatItCanAndSaysWhyItSkipsTheRest() throws {
        let network = try CLINetwork()
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(database, Self.fixtures)
        let output = try network.succeed([
            "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
            "--hub-public-key", network.hubPublicKey, "--json",
        ])
        let report = try JSONDecoder().decode(InitJSON.self, from: Data(output.stdout.utf8))
        #expect(
            report.tracked.sorted() == [
                "blobs", "compound_primary_key", "compound_three_primary_keys", "docs", "facet_cities", "facetable",
                "simple_primary_key", "untyped_keys",
            ])
        let reasons = Dictionary(report.skipped.map { ($0.table, $0.reason) }) { a, _ in a }
        let expected: [String: String] = [
            "binary_data": "has no primary key",
            "123_starts_with_digits": Identifier.sqlNameRule,
            "table/with/slashes.csv": Identifier.sqlNameRule,
            "Table With Space In Name": Identifier.sqlNameRule,
            "ünïcödé": Identifier.sqlNameRule,
            "blob_keys": "BLOB primary-key column 'k'",
            "reserved_columns": "'sync_version' is a column the hub adds",
            "tags": "has no primary key",
            "tagged": "its foreign key refers to 'tags', which is not tracked",
            "searchable_fts": "is a virtual table",
            "docs_fts": "is a virtual table",
            "places": "is a virtual table",
            "docs_fts_data": "where the virtual table 'docs_fts' keeps its data",
            "docs_fts_idx": "where the virtual table 'docs_fts' keeps its data",
            "docs_fts_config": "where the virtual table 'docs_fts' keeps its data",
            "docs_fts_docsize": "where the virtual table 'docs_fts' keeps its data",
            "searchable_fts_segments": "where the virtual table 'searchable_fts' keeps its data",
            "searchable_fts_segdir": "where the virtual table 'searchable_fts' keeps its data",
            "searchable_fts_docsize": "where the virtual table 'searchable_fts' keeps its data",
            "searchable_fts_stat": "where the virtual table 'searchable_fts' keeps its data",
            "places_node": "where the virtual table 'places' keeps its data",
            "places_parent": "where the virtual table 'places' keeps its data",
            "places_rowid": "where the virtual table 'places' keeps its data",
            "simple_view": "is a view",
            "searchable": "column name 'name with . and spaces' of table 'searchable' is not supported: "
                + Identifier.sqlNameRule,
        ]
        for (table, reason) in expected {
            #expect(reasons[table]?.contains(reason) == true, "\(table): \(reasons[table] ?? "not skipped")")
        }
        #expect(Set(reasons.keys) == Set(expected.keys), "\(reasons.keys.sorted())")
        // Every row with a key FieldSync can carry is pending; the BLOB and the NULL key are listed instead.
        #expect(report.pendingChanges == 15)
        let status = try Self.siteStatus(network, "site-a")
        #expect(status.problems == 2)
        let problems = try SQLiteShell.run(database, "SELECT tbl, pk, reason FROM _fieldsync_problems ORDER BY pk")
        #expect(problems.contains("untyped_keys|[null]|a primary-key value is NULL"), "\(problems)")
        #expect(problems.contains("untyped_keys|[\"x'BEEF'\"]|a primary-key value is a BLOB"), "\(problems)")

        // The indexes keep working for the application, written through the sqlite3 shell.
        try SQLiteShell.run(
            database, "INSERT INTO docs VALUES (2, 'Fences', 'Mending the north fence')",
            "DELETE FROM docs WHERE id = 1",
            "INSERT INTO searchable VALUES (3, 'new cat', 'new dog', 'lynx')",
            "INSERT INTO searchable_fts (rowid, text1, text2, [name with . and spaces]) VALUES (3, 'new cat', 'new dog', 'lynx')",
            "INSERT INTO places VALUES (2, 5, 6, 5, 6)",
            "INSERT INTO docs_fts (docs_fts) VALUES ('integrity-check')")
        #expect(try SQLiteShell.run(database, "SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'fence'") == "2\n")
        #expect(try SQLiteShell.run(database, "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH 'pump'") == "0\n")
        #expect(
            try SQLiteShell.run(database, "SELECT rowid FROM searchable_fts WHERE searchable_fts MATCH 'lynx'") == "3\n"
        )
        #expect(try SQLiteShell.run(database, "SELECT id FROM places WHERE min_x >= 4") == "2\n")
        #expect(try SQLiteShell.run(database, "PRAGMA integrity_check") == "ok\n")

        // The BLOB values and compound keys travel: the site's first bundle carries every pending row and the
        // two changes to docs.
        let exported = try network.succeed([
            "bundle", "export", "--dir", network.siteDirectory("site-a"), "--out", network.directory.file("out"),
        ])
        #expect(exported.stdout.contains("Wrote bundle 1 for hub: 16 changes"), "\(exported.stdout)")
    }

    /// `site init --table` naming a table FieldSync cannot track, or a child without its parent, stops with the
    /// reason and exit status 1, and leaves nothing behind: no node directory, keys, bundle folders,
    /// configuration, triggers or `_fieldsync` tables.
    @Test func aFailedInitSaysWhyAndLeavesNothingBehind() throws {
        let network = try CLINetwork()
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(database, Self.fixtures)
        let before = try SQLiteShell.dump(database)
        let cases: [([String], [String])] = [
            (["--table", "docs", "--table", "docs_fts"], ["table 'docs_fts' is a virtual table"]),
            (["--table", "docs_fts_data"], ["'docs_fts_data' is where the virtual table 'docs_fts' keeps its data"]),
            (["--table", "Table With Space In Name"], [Identifier.sqlNameRule]),
            (["--table", "binary_data"], ["table 'binary_data' has no primary key", "PRIMARY KEY"]),
            (["--table", "simple_view"], ["table 'simple_view' is a view"]),
            (["--table", "nowhere"], ["table 'nowhere' does not exist"]),
            (
                ["--table", "docs", "--table", "facetable"],
                ["table 'facetable' has a foreign key to 'facet_cities'", "add --table facet_cities"]
            ),
        ]
        for (tables, messages) in cases {
            let output = try network.fieldsync(
                [
                    "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
                    "--hub-public-key", network.hubPublicKey,
                ] + tables)
            #expect(output.status == 1, "\(tables): \(output.stderr)")
            #expect(output.stderr.hasPrefix("error: "), "\(output.stderr)")
            #expect(!output.stderr.contains("Usage:"), "\(output.stderr)")
            for message in messages { #expect(output.stderr.contains(message), "\(tables): \(output.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: network.siteDirectory("site-a")), "\(tables)")
            #expect(try SQLiteShell.dump(database) == before, "\(tables)")
        }
        // With the parent named too, the same tables are tracked.
        let output = try network.succeed([
            "site", "init", "--dir", network.siteDirectory("site-a"), "--id", "site-a", "--db", database,
            "--hub-public-key", network.hubPublicKey, "--table", "facetable", "--table", "facet_cities",
        ])
        #expect(output.stdout.contains("tables:          facet_cities, facetable"), "\(output.stdout)")

        // Validation errors are refusals too (exit 1), not usage errors.
        let badID = try network.fieldsync([
            "site", "init", "--dir", network.directory.file("other"), "--id", "no spaces", "--db", database,
            "--hub-public-key", network.hubPublicKey,
        ])
        #expect(badID.status == 1)
        #expect(badID.stderr.contains("'no spaces' is not a valid node id"), "\(badID.stderr)")
        let noDatabase = try network.fieldsync([
            "site", "init", "--dir", network.directory.file("other"), "--id", "site-x", "--db",
            network.directory.file("missing.sqlite"), "--hub-public-key", network.hubPublicKey,
        ])
        #expect(noDatabase.status == 1)
        #expect(noDatabase.stderr.contains("does not exist"), "\(noDatabase.stderr)")
        #expect(!FileManager.default.fileExists(atPath: network.directory.file("missing.sqlite")))
        #expect(!FileManager.default.fileExists(atPath: network.directory.file("other")))
    }

    /// `site init` run with the wrong hub's key and then again with the right one moves the site to the right hub
    /// everywhere (database, configuration, keys/), and exchanges then work; once the site has applied a return
    /// bundle, another hub's key is refused with exit status 1 and nothing changes.
    @Test func rerunningInitWithACorrectedHubKeyMovesTheSiteOrRefuses() throws {
        let network = try CLINetwork()
        let wrongHub = network.directory.file("wrong-hub")
        try network.succeed(["hub", "init", "--dir", wrongHub, "--id", "wrong-hub"])
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "notes", "--column", "id:integer:notnull",
            "--column", "body:text", "--primary-key", "id",
        ])
        let database = network.siteDatabase("site-a")
        try SQLiteShell.run(database, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        let site = network.siteDirectory("site-a")
        let initArguments = ["site", "init", "--dir", site, "--id", "site-a", "--db", database, "--hub-public-key"]
        try network.succeed(initArguments + ["\(wrongHub)/keys/wrong-hub.pub"])
        #expect(try Self.siteStatus(network, "site-a").hub == "wrong-hub")

        try network.succeed(initArguments + [network.hubPublicKey])
        #expect(try Self.siteStatus(network, "site-a").hub == "hub")
        let configuration = try String(contentsOfFile: "\(site)/fieldsync.json", encoding: .utf8)
        #expect(configuration.contains("\"hub\" : \"hub\""), "\(configuration)")
        #expect(configuration.contains("\"hub_public_key\" : \"keys/hub.pub\""), "\(configuration)")
        #expect(FileManager.default.fileExists(atPath: "\(site)/keys/hub.pub"))
        #expect(!FileManager.default.fileExists(atPath: "\(site)/keys/wrong-hub.pub"))

        try network.succeed([
            "hub", "add-site", "--dir", network.hubDirectory, "site-a", "--public-key", "\(site)/keys/site-a.pub",
        ])
        try SQLiteShell.run(database, "INSERT INTO notes VALUES (1, 'first')")
        try network.importAtHub([try network.exportSite("site-a")])
        try network.importAtSite("site-a", [try network.exportHub(for: "site-a")])
        #expect(try network.hubRows("notes", columns: "id, body", order: "id") == ["1,'first'"])

        let refused = try network.fieldsync(initArguments + ["\(wrongHub)/keys/wrong-hub.pub"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot move to hub 'wrong-hub'"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: "\(site)/fieldsync.json", encoding: .utf8) == configuration)
        #expect(!FileManager.default.fileExists(atPath: "\(site)/keys/wrong-hub.pub"))
        #expect(try Self.siteStatus(network, "site-a").hub == "hub")
    }
}

extension SiteTablesCommandTests {
    /// A return bundle cut short on its way to a site, which `bundle import` cannot even read, is refused with
    /// exit status 1 and leaves a `refused` line in the site's log, which `status` shows.
    @Test func aReturnBundleCutShortAtASiteIsLoggedThere() throws {
        let network = try CLINetwork()
        try network.succeed([
            "hub", "add-table", "--dir", network.hubDirectory, "notes", "--column", "id:integer:notnull",
            "--column", "body:text", "--primary-key", "id",
        ])
        try network.addSite("site-a", schema: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        try network.importAtHub([try network.exportSite("site-a")])
        let returned = try network.exportHub(for: "site-a")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: returned))
        let cut = network.directory.file("cut-return.fsb")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let output = try network.fieldsync(["bundle", "import", "--dir", network.siteDirectory("site-a"), cut])
        #expect(output.status == 1)
        let status = try Self.siteStatus(network, "site-a")
        #expect(status.lastRefusal?.hasPrefix("cut-return.fsb: ") == true, "\(status.lastRefusal ?? "none")")
        #expect(status.lastRefusal?.contains("/") == false, "\(status.lastRefusal ?? "none")")
    }
}
