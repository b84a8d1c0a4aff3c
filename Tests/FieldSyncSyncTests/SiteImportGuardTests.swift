import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import FieldSyncSite
import FieldSyncTesting
import Foundation
import Testing

/// What a site refuses or sets aside in a return bundle signed by its own hub: tables it does not track, reserved
/// names, an acknowledgement of changes it never made, rows that would break a foreign key; and rows with a key
/// FieldSync cannot carry, which are listed instead of captured. The return bundles are written here with the
/// hub's key, so each case is exact; the site side is the real one.
@Suite struct SiteImportGuardTests {
    /// A site database with `parents`, `children` (foreign key to parents) and `secrets` (not tracked).
    final class GuardedSite {
        let directory: TemporaryDirectory
        let returns: HandWrittenReturns
        let app: SQLiteConnection
        let engine: SiteEngine
        var hubKeys: NodeKeys { returns.hubKeys }
        var siteKeys: NodeKeys { returns.siteKeys }

        init(tables: [String]? = ["parents", "children"], extraSchema: String = "") throws {
            directory = try TemporaryDirectory(prefix: "fieldsync-guard")
            returns = try HandWrittenReturns(directory: try directory.directory("return"))
            let path = directory.file("site-a.sqlite")
            app = try SQLiteConnection(path: path)
            try app.execute(
                """
                CREATE TABLE parents (id TEXT PRIMARY KEY, name TEXT);
                CREATE TABLE children (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents (id),
                    note TEXT CHECK (note IS NULL OR note <> 'forbidden here'));
                CREATE TABLE secrets (id INTEGER PRIMARY KEY, password TEXT);
                CREATE TABLE visits (id INTEGER PRIMARY KEY, parent_id TEXT REFERENCES parents (id));
                INSERT INTO secrets VALUES (1, 'local secret');
                """ + extraSchema)
            let store = try SiteStore.install(path: path, siteID: "site-a", hubID: "hub", tables: tables)
            engine = try SiteEngine(store: store, keys: returns.siteKeys, hub: returns.hubKeys.identity)
        }

        static let parents = try! TableSchema(
            name: "parents",
            columns: [Column(name: "id", type: .text, nullable: false), Column(name: "name", type: .text)],
            primaryKey: ["id"])
        static let children = try! TableSchema(
            name: "children",
            columns: [
                Column(name: "id", type: .text, nullable: false), Column(name: "parent_id", type: .text),
                Column(name: "note", type: .text),
            ], primaryKey: ["id"])
        static let secrets = try! TableSchema(
            name: "secrets",
            columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "password", type: .text)],
            primaryKey: ["id"])

        /// A hub change at the next hub version.
        func hubChange(_ values: [Value], operation: Change.Operation = .insert) -> Change {
            let version = returns.nextVersion()
            return Change(
                operation: operation, origin: "hub", originSequence: version, baseVersion: 0, version: version,
                values: values)
        }

        /// Writes a return bundle signed by the hub with `changes` (table, change) and has the site import it.
        @discardableResult
        func deliver(
            _ changes: [(String, Change)], tables: [TableSchema] = [parents, children, secrets],
            properties extra: [String: String] = [:]
        ) throws -> SiteImport {
            try engine.importBundle(
                paths: try returns.write(
                    changes.map { (table: $0.0, change: $0.1) }, tables: tables, acknowledged: 0, properties: extra))
        }

        func rows(_ sql: String) throws -> [[Value]] { try app.query(sql) }

        func log() throws -> [[Value]] {
            try app.query("SELECT operation, status, message FROM _fieldsync_log ORDER BY id")
        }
    }

    /// The changes of a table the site did not choose are counted, logged and left unapplied; the table is not
    /// tracked afterwards and its local rows are not captured or sent.
    @Test func changesForAnUntrackedTableAreReportedNeverApplied() throws {
        let site = try GuardedSite()
        let report = try site.deliver([
            ("parents", site.hubChange([.text("p1"), .text("Amina")])),
            ("secrets", site.hubChange([.integer(1), .text("hq overwrite")])),
            ("secrets", site.hubChange([.integer(2), .text("hq row")])),
        ])
        #expect(report.applied == 1)
        #expect(report.untracked == ["secrets": 2])
        #expect(try site.rows("SELECT id, password FROM secrets") == [[.integer(1), .text("local secret")]])
        #expect(try site.engine.store.tables().map(\.name) == ["parents", "children"])
        let status = try site.engine.store.status()
        #expect(status.untrackedTables == ["secrets": 2])
        #expect(try site.log().last?[1] == .text("warning"))
        try site.app.execute("INSERT INTO secrets VALUES (3, 'another local secret')")
        #expect(try site.rows("SELECT count(*) FROM _fieldsync_rows WHERE tbl = 'secrets'") == [[.integer(0)]])
    }

    /// A hub-signed bundle that declares FieldSync's or SQLite's own tables is refused before anything is applied,
    /// with a message naming the table, and the refusal is logged.
    @Test(arguments: ["_fieldsync_state", "_fieldsync_counter", "sqlite_sequence", "fieldsync_stage", "sync_control"])
    func aBundleNamingAReservedTableIsRefused(table: String) throws {
        let site = try GuardedSite()
        var reserved = GuardedSite.secrets
        reserved.name = table
        let before = try site.rows("SELECT key, value FROM _fieldsync_state ORDER BY key")
        #expect {
            try site.deliver(
                [
                    ("parents", site.hubChange([.text("p1"), .text("Amina")])),
                    (table, site.hubChange([.integer(1), .text("x")])),
                ],
                tables: [GuardedSite.parents, reserved])
        } throws: { error in
            "\(error)".contains("the manifest is not valid: table '\(table)'")
                && "\(error)".contains("cannot be synced")
        }
        #expect(try site.rows("SELECT key, value FROM _fieldsync_state ORDER BY key") == before)
        #expect(try site.rows("SELECT count(*) FROM parents") == [[.integer(0)]])
        let status = try site.engine.store.status()
        #expect(status.lastRefusal?.contains("'\(table)'") == true, "\(status.lastRefusal ?? "none")")
    }

    /// A return bundle acknowledging more changes than the site has made is refused (it would stop the site from
    /// sending them), as is one whose acknowledgement is not a number; both are logged.
    @Test func anAcknowledgementBeyondTheSitesCounterIsRefused() throws {
        let site = try GuardedSite()
        try site.app.execute("INSERT INTO parents VALUES ('local', 'made here')")
        let counter = try site.engine.store.status().changeCounter
        #expect(counter == 1)
        for value in ["999999999", "abc", "-1"] {
            #expect {
                try site.deliver(
                    [("parents", site.hubChange([.text("p1"), .text("Amina")]))],
                    properties: [SyncProperty.acknowledgedChange: value])
            } throws: { error in
                value == "999999999"
                    ? "\(error)".contains(
                        "acknowledges this site's changes up to 999999999, but this site has made only 1")
                    : "\(error)".contains("not a non-negative whole number")
            }
        }
        let status = try site.engine.store.status()
        #expect(status.acknowledgedChange == 0)
        #expect(status.pendingChanges == 1)
        #expect(status.lastImportSequence == 0)
        #expect(try site.rows("SELECT count(*) FROM _fieldsync_log WHERE status = 'refused'") == [[.integer(3)]])
        // The genuine acknowledgement is taken.
        try site.deliver([], properties: [SyncProperty.acknowledgedChange: "1"])
        #expect(try site.engine.store.status().acknowledgedChange == 1)
    }

    /// A hub child whose parent is not at the site is set aside with the table, key and constraint named, and the
    /// rest of the bundle applies; so is a hub delete of a parent a local row still refers to.
    @Test func rowsThatWouldBreakAForeignKeyAreSetAsideAndTheRestApplies() throws {
        let site = try GuardedSite()
        let first = try site.deliver([
            ("parents", site.hubChange([.text("p1"), .text("Amina")])),
            ("children", site.hubChange([.text("c1"), .text("p1"), .text("fine")])),
            ("children", site.hubChange([.text("c2"), .text("p-missing"), .text("orphan")])),
        ])
        #expect(first.applied == 2)
        #expect(first.setAside.map(\.table) == ["children"])
        #expect(first.setAside.first?.key == "[\"c2\"]")
        #expect(first.setAside.first?.reason.contains("FOREIGN KEY (parent_id) of children [\"c2\"]") == true)
        #expect(first.setAside.first?.reason.contains("parents [\"p-missing\"]") == true)
        #expect(try site.rows("SELECT id FROM children ORDER BY id") == [[.text("c1")]])
        #expect(try site.engine.store.status().lastImportSequence == 1)

        // A local child of p1, then the hub deletes p1 (and its own child c1).
        try site.app.execute("INSERT INTO children VALUES ('local-child', 'p1', 'made here')")
        let second = try site.deliver([
            ("parents", site.hubChange([.text("p1"), .null], operation: .delete)),
            ("children", site.hubChange([.text("c1"), .null, .null], operation: .delete)),
            ("parents", site.hubChange([.text("p2"), .text("Chen")])),
        ])
        #expect(second.setAside.map(\.table) == ["parents"])
        #expect(second.setAside.first?.key == "[\"p1\"]")
        #expect(second.setAside.first?.reason.contains("the hub deleted this row") == true)
        #expect(second.setAside.first?.reason.contains("children [\"local-child\"]") == true)
        #expect(try site.rows("SELECT id FROM parents ORDER BY id") == [[.text("p1")], [.text("p2")]])
        #expect(try site.rows("SELECT id FROM children ORDER BY id") == [[.text("local-child")]])
        let problems = try site.rows("SELECT tbl, pk, kind FROM _fieldsync_problems ORDER BY tbl")
        #expect(
            problems == [
                [.text("children"), .text("[\"c2\"]"), .text("import")],
                [.text("parents"), .text("[\"p1\"]"), .text("import")],
            ])
        #expect(try site.rows("PRAGMA foreign_key_check") == [])
        let message = try #require(try site.log().last?[2].textValue)
        #expect(message.contains("set aside (constraint): parents [\"p1\"]"), "\(message)")

        // A row that broke a foreign key before the import (written with foreign keys off, SQLite's default) does
        // not stop or change it; a row of a table the site does not track still keeps its parent.
        try site.app.execute("PRAGMA foreign_keys = OFF")
        try site.app.execute("INSERT INTO children VALUES ('orphan-local', 'nowhere', 'made with keys off')")
        try site.app.execute("PRAGMA foreign_keys = ON")
        try site.app.execute("INSERT INTO visits VALUES (1, 'p2')")
        let third = try site.deliver([
            ("parents", site.hubChange([.text("p3"), .text("Dara")])),
            ("parents", site.hubChange([.text("p2"), .null], operation: .delete)),
        ])
        #expect(third.applied == 1)
        #expect(third.setAside.map(\.key) == ["[\"p2\"]"])
        #expect(third.setAside.first?.reason.contains("of visits [1] refers to parents [\"p2\"]") == true)
        #expect(try site.rows("SELECT id FROM parents ORDER BY id") == [[.text("p1")], [.text("p2")], [.text("p3")]])
        #expect(try site.engine.store.status().lastImportSequence == 3)
    }

    /// A hub delete of a parent that local rows refer to through a foreign key with an ON DELETE action
    /// (CASCADE, SET NULL) is set aside with the action named, instead of letting SQLite delete or change those
    /// rows behind the capture triggers (the hub would keep them, the site would lose them unsaid), whether the
    /// rows' table is tracked or not. When the same bundle deletes the referring rows too, the delete applies.
    @Test func aHubDeleteThatWouldCascadeToLocalRowsIsSetAside() throws {
        let site = try GuardedSite(
            tables: ["parents", "children", "members"],
            extraSchema: """
                CREATE TABLE members (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents (id) ON DELETE CASCADE);
                CREATE TABLE notes (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents (id) ON DELETE SET NULL);
                """)
        let members = try TableSchema(
            name: "members",
            columns: [Column(name: "id", type: .text, nullable: false), Column(name: "parent_id", type: .text)],
            primaryKey: ["id"])
        let tables = [GuardedSite.parents, GuardedSite.children, GuardedSite.secrets, members]
        try site.deliver(
            [
                ("parents", site.hubChange([.text("p1"), .text("Amina")])),
                ("parents", site.hubChange([.text("p2"), .text("Chen")])),
                ("parents", site.hubChange([.text("p3"), .text("Dara")])),
                ("members", site.hubChange([.text("m1"), .text("p1")])),
                ("members", site.hubChange([.text("m3"), .text("p3")])),
            ], tables: tables)
        try site.app.execute("INSERT INTO notes VALUES ('n2', 'p2')")

        let report = try site.deliver(
            [
                ("parents", site.hubChange([.text("p1"), .null], operation: .delete)),
                ("parents", site.hubChange([.text("p2"), .null], operation: .delete)),
                ("parents", site.hubChange([.text("p3"), .null], operation: .delete)),
                ("members", site.hubChange([.text("m3"), .null], operation: .delete)),
            ], tables: tables)
        #expect(report.setAside.map(\.key).sorted() == ["[\"p1\"]", "[\"p2\"]"])
        let reasons = report.setAside.map(\.reason).joined(separator: " | ")
        #expect(reasons.contains("members") && reasons.contains("ON DELETE CASCADE"), "\(reasons)")
        #expect(reasons.contains("notes") && reasons.contains("ON DELETE SET NULL"), "\(reasons)")
        #expect(try site.rows("SELECT id FROM parents ORDER BY id") == [[.text("p1")], [.text("p2")]])
        #expect(try site.rows("SELECT id, parent_id FROM members ORDER BY id") == [[.text("m1"), .text("p1")]])
        #expect(try site.rows("SELECT id, parent_id FROM notes") == [[.text("n2"), .text("p2")]])
        #expect(try site.engine.store.status().pendingChanges == 0)
        let problems = try site.rows("SELECT tbl, pk FROM _fieldsync_problems WHERE kind = 'import' ORDER BY pk")
        #expect(problems == [[.text("parents"), .text("[\"p1\"]")], [.text("parents"), .text("[\"p2\"]")]])
    }

    /// A hub update of a value that local rows refer to through a foreign key with an ON UPDATE action is set
    /// aside in the same way, unless the same bundle points the referring rows at the new value.
    @Test func aHubUpdateThatWouldCascadeToLocalRowsIsSetAside() throws {
        let site = try GuardedSite(
            tables: ["parents", "children", "regions", "offices"],
            extraSchema: """
                CREATE TABLE regions (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
                CREATE TABLE offices (id INTEGER PRIMARY KEY,
                    region_code TEXT REFERENCES regions (code) ON UPDATE CASCADE);
                """)
        let regions = try TableSchema(
            name: "regions",
            columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "code", type: .text)],
            primaryKey: ["id"])
        let offices = try TableSchema(
            name: "offices",
            columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "region_code", type: .text)],
            primaryKey: ["id"])
        try site.deliver(
            [
                ("regions", site.hubChange([.integer(1), .text("NBO")])),
                ("regions", site.hubChange([.integer(2), .text("KSM")])),
                ("offices", site.hubChange([.integer(1), .text("NBO")])),
                ("offices", site.hubChange([.integer(2), .text("KSM")])),
            ], tables: [regions, offices])

        let report = try site.deliver(
            [
                ("regions", site.hubChange([.integer(1), .text("NAI")], operation: .update)),
                ("regions", site.hubChange([.integer(2), .text("KIS")], operation: .update)),
                ("offices", site.hubChange([.integer(2), .text("KIS")], operation: .update)),
            ], tables: [regions, offices])
        #expect(report.setAside.map(\.key) == ["[1]"])
        #expect(report.setAside.first?.reason.contains("of offices ON UPDATE CASCADE") == true, "\(report.setAside)")
        #expect(
            try site.rows("SELECT id, code FROM regions ORDER BY id") == [
                [.integer(1), .text("NBO")], [.integer(2), .text("KIS")],
            ])
        #expect(
            try site.rows("SELECT id, region_code FROM offices ORDER BY id") == [
                [.integer(1), .text("NBO")], [.integer(2), .text("KIS")],
            ])
        #expect(try site.engine.store.status().pendingChanges == 0)
    }

    /// A hub row that breaks a CHECK constraint only the site's table has is set aside with the constraint
    /// named, and the rest of the bundle applies.
    @Test func aRowThatBreaksALocalCheckIsSetAsideAndTheRestApplies() throws {
        let site = try GuardedSite()
        let report = try site.deliver([
            ("parents", site.hubChange([.text("p1"), .text("Amina")])),
            ("children", site.hubChange([.text("c1"), .text("p1"), .text("forbidden here")])),
            ("children", site.hubChange([.text("c2"), .text("p1"), .text("fine")])),
        ])
        #expect(report.applied == 2)
        #expect(report.setAside.map(\.key) == ["[\"c1\"]"])
        #expect(report.setAside.first?.reason.contains("CHECK constraint failed") == true, "\(report.setAside)")
        #expect(try site.rows("SELECT id FROM children ORDER BY id") == [[.text("c2")]])
        #expect(
            try site.rows("SELECT tbl, pk, kind FROM _fieldsync_problems") == [
                [.text("children"), .text("[\"c1\"]"), .text("import")]
            ])
    }

    /// `site init --table children` alone is refused with the child, the parent and the flag to add; with no
    /// `--table`, a child of a skipped table is skipped with the reason.
    @Test func aChildIsNotTrackedWithoutItsParent() throws {
        let directory = try TemporaryDirectory(prefix: "fieldsync-guard")
        let path = directory.file("app.sqlite")
        let app = try SQLiteConnection(path: path)
        try app.execute(
            """
            CREATE TABLE parents (id TEXT PRIMARY KEY, name TEXT);
            CREATE TABLE children (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents (id));
            CREATE TABLE keyless (a TEXT);
            CREATE TABLE orphans (id TEXT PRIMARY KEY, a TEXT REFERENCES keyless (a));
            CREATE TABLE grandchildren (id TEXT PRIMARY KEY, orphan_id TEXT REFERENCES orphans (id));
            """)
        #expect {
            try SiteStore.install(path: path, siteID: "site-a", hubID: "hub", tables: ["children"])
        } throws: { error in
            "\(error)".contains("table 'children' has a foreign key to 'parents'")
                && "\(error)".contains("add --table parents")
        }
        #expect(
            try app.query("SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_fieldsync%' ESCAPE '\\'") == [
                [.integer(0)]
            ])
        let installed = try SiteStore.installing(path: path, siteID: "site-a", hubID: "hub", tables: nil)
        #expect(installed.choice.tracked == ["parents", "children"])
        let skipped = Dictionary(installed.choice.skipped.map { ($0.table, $0.reason) }) { a, _ in a }
        #expect(skipped["orphans"]?.contains("its foreign key refers to 'keyless', which is not tracked") == true)
        #expect(skipped["grandchildren"]?.contains("its foreign key refers to 'orphans', which is not tracked") == true)
    }

    /// Rows with a NULL (or BLOB) primary-key value, which SQLite allows outside an INTEGER PRIMARY KEY, are never
    /// captured and never dropped unsaid: each is listed in `_fieldsync_problems` with the reason. Giving the row a
    /// key makes it an ordinary insert; taking a tracked row's key away sends its delete.
    @Test func rowsWithANullKeyAreListedNotCapturedOrDroppedSilently() throws {
        let site = try GuardedSite(tables: nil)
        let app = site.app
        try app.execute("INSERT INTO parents VALUES (NULL, 'no key')")
        try app.execute("INSERT INTO parents VALUES (NULL, 'no key either')")
        #expect(try site.rows("SELECT count(*) FROM _fieldsync_rows WHERE tbl = 'parents'") == [[.integer(0)]])
        #expect(
            try site.rows("SELECT pk, reason FROM _fieldsync_problems WHERE tbl = 'parents'") == [
                [
                    .text("[null]"),
                    .text(
                        "a primary-key value is NULL: FieldSync cannot tell such rows apart, so the row is not "
                            + "synced; give it a key value"),
                ]
            ])
        #expect(try site.engine.store.status().problems == 1)
        // Updating a NULL-key row without giving it a key captures nothing.
        try app.execute("UPDATE parents SET name = 'still no key' WHERE name = 'no key'")
        #expect(try site.rows("SELECT count(*) FROM _fieldsync_rows WHERE tbl = 'parents'") == [[.integer(0)]])
        // Giving it a key: an insert of the new key.
        try app.execute("UPDATE parents SET id = 'p9' WHERE name = 'still no key'")
        #expect(
            try site.rows("SELECT pk, changed FROM _fieldsync_rows WHERE tbl = 'parents'") == [
                [.text("[\"p9\"]"), .integer(-1)]
            ])
        // Taking a tracked row's key away: its delete travels, and the row is listed.
        try app.execute("UPDATE parents SET id = NULL WHERE id = 'p9'")
        #expect(try site.rows("SELECT pk FROM _fieldsync_rows WHERE tbl = 'parents'") == [[.text("[\"p9\"]")]])
        let written = try site.engine.export(
            template: .init(kind: .delta, sequence: 0, directory: try site.directory.directory("outbox")))
        let read = try BundleFixtures.readAll(
            written.bundle.paths, sender: site.siteKeys.identity, recipient: site.hubKeys)
        let parents = read.changes.filter { $0.table == "parents" }.map(\.change)
        #expect(parents.map(\.operation) == [.delete])
        #expect(parents.first?.values.first == .text("p9"))
        // Deleting a NULL-key row sends nothing.
        try app.execute("DELETE FROM parents WHERE id IS NULL")
        #expect(try site.rows("SELECT count(*) FROM _fieldsync_rows WHERE tbl = 'parents'") == [[.integer(1)]])
        #expect(try site.engine.store.status().problems == 1)
    }

    /// `INSERT OR REPLACE` and `UPDATE OR REPLACE` (sqlite-utils' `replace=True`, for one) delete the rows that
    /// hold the same UNIQUE value under another key without firing delete triggers (unless the application turns
    /// `recursive_triggers` on): those deletes are captured and travel; `INSERT OR IGNORE` and upserts of an
    /// existing value capture no delete.
    @Test func rowsReplacedThroughAUniqueValueTravelAsDeletes() throws {
        let site = try GuardedSite(
            tables: ["parents", "children", "users"],
            extraSchema: """
                CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT,
                    badge TEXT, room INTEGER, UNIQUE (badge, room));
                INSERT INTO users VALUES (1, 'a@x', 'A', 'b1', 1), (2, 'b@x', 'B', 'b2', 1), (3, 'c@x', 'C', 'b3', 1);
                """)
        let app = site.app
        func pendingUsers() throws -> [String] {
            try site.rows(
                "SELECT pk FROM _fieldsync_rows WHERE tbl = 'users' AND local_seq > "
                    + "(SELECT acked FROM _fieldsync_counter) ORDER BY pk"
            ).compactMap { $0[0].textValue }
        }
        try app.execute("UPDATE _fieldsync_counter SET acked = value")
        try app.execute("INSERT OR IGNORE INTO users VALUES (7, 'a@x', 'ignored', NULL, NULL)")
        try app.execute("INSERT INTO users VALUES (8, 'b@x', 'B2', NULL, NULL) ON CONFLICT (email) DO NOTHING")
        #expect(try pendingUsers() == [])

        try app.execute("INSERT OR REPLACE INTO users VALUES (4, 'a@x', 'A again', 'b2', 1)")
        #expect(try site.rows("SELECT id FROM users ORDER BY id") == [[.integer(3)], [.integer(4)]])
        #expect(try pendingUsers() == ["[1]", "[2]", "[4]"])
        try app.execute("UPDATE OR REPLACE users SET email = 'c@x' WHERE id = 4")
        #expect(try site.rows("SELECT id FROM users ORDER BY id") == [[.integer(4)]])
        #expect(try pendingUsers() == ["[1]", "[2]", "[3]", "[4]"])

        let written = try site.engine.export(
            template: .init(kind: .delta, sequence: 0, directory: try site.directory.directory("outbox")))
        let read = try BundleFixtures.readAll(
            written.bundle.paths, sender: site.siteKeys.identity, recipient: site.hubKeys)
        let users = read.changes.filter { $0.table == "users" }.map(\.change)
        #expect(
            users.filter { $0.operation == .delete }.map(\.values.first) == [.integer(1), .integer(2), .integer(3)])
    }

    /// Rows with a NULL key present when tracking starts are listed too, and `site init` does not fail on a key
    /// holding a BLOB (the cause of "JSON cannot hold BLOB values").
    @Test func existingRowsWithANullOrBlobKeyAreListedWhenTrackingStarts() throws {
        let directory = try TemporaryDirectory(prefix: "fieldsync-guard")
        let path = directory.file("app.sqlite")
        let app = try SQLiteConnection(path: path)
        try app.execute(
            """
            CREATE TABLE loose (k PRIMARY KEY, v);
            INSERT INTO loose VALUES ('a', x'00'), (NULL, 'null key'), (x'beef', 'blob key'), (2, 2.5);
            """)
        let store = try SiteStore.install(path: path, siteID: "site-a", hubID: "hub", tables: nil)
        #expect(try store.status().pendingChanges == 2)
        #expect(
            try app.query("SELECT pk FROM _fieldsync_problems ORDER BY pk") == [
                [.text("[\"x'BEEF'\"]")], [.text("[null]")],
            ])
    }
}
