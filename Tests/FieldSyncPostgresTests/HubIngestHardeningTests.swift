import FieldSyncBundle
import FieldSyncCore
import FieldSyncPostgres
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// What a hub does with values, versions and manifests a careless or hostile site sends: each case on the embedded
/// SQLite hub and on PostgreSQL (when a test server is configured), with real site-signed bundles.
@Suite struct HubIngestHardeningTests {
    static func people(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
    }

    static let peopleAllText = try! TableSchema(
        name: "people",
        columns: [
            Column(name: "id", type: .text, nullable: false), Column(name: "name", type: .text),
            Column(name: "age", type: .text),
        ],
        primaryKey: ["id"])

    static func insert(_ values: [Value], seq: Int64, table: String = "people", origin: String = "site-a")
        -> TableChange
    {
        TableChange(
            table: table, change: Change(operation: .insert, origin: origin, originSequence: seq, values: values))
    }

    // MARK: Values of the wrong type (a site whose column has another type than the hub's)

    /// A site whose `household_size` is TEXT sends 'about 4' for the hub's INTEGER column: the row is set aside
    /// with its reason (and the site keeps it), '4' is stored as the integer 4, and every later export, for every
    /// site, goes on.
    @Test(arguments: HubStoreKind.available)
    func aValueOfTheWrongTypeIsSetAsideAndExportsGoOn(_ kind: HubStoreKind) throws {
        var first = true
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind) { db in
            // The hub's table is declared from the first site's: INTEGER there, TEXT at site-b.
            let type = first ? "INTEGER" : "TEXT"
            first = false
            try db.execute("CREATE TABLE households (id TEXT PRIMARY KEY, name TEXT, household_size \(type))")
        }
        try world.site("site-b").database.execute(
            "INSERT INTO households VALUES ('h1', 'Achieng', 'about 4'); "
                + "INSERT INTO households VALUES ('h2', 'Baraka', '4')")
        try world.site("site-a").database.execute("INSERT INTO households VALUES ('h3', 'Chebet', 5)")
        try world.exchangeRounds(1)
        #expect(
            try world.hubRows("households") == [
                [.text("h2"), .text("Baraka"), .integer(4)], [.text("h3"), .text("Chebet"), .integer(5)],
            ])
        let rejected = try world.hubStore.rejectedRows(site: "site-b", table: nil, includeApplied: false)
        #expect(rejected.count == 1)
        #expect(rejected.first?.key == "[\"h1\"]")
        #expect(rejected.first?.reason.contains("column 'household_size'") == true)
        #expect(rejected.first?.reason.contains("integer") == true)
        // Exports for every site go on, round after round.
        try world.site("site-a").database.execute("UPDATE households SET household_size = 6 WHERE id = 'h3'")
        try world.exchangeRounds(2)
        #expect(try world.siteRows("site-a", "households").count == 2)
        #expect(
            try world.site("site-b").database.scalar("SELECT household_size FROM households WHERE id = 'h1'")
                == .text("about 4"), "the site keeps its row")
    }

    /// Every column type refuses at ingest, on both hub stores, what PostgreSQL's input function for it would refuse,
    /// naming the column; a row of well-formed text for every type is stored in each type's form.
    @Test(arguments: HubStoreKind.available)
    func everyColumnTypeSetsAsideWhatItCannotHold(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind) { db in
            try db.execute(
                "CREATE TABLE samples (id TEXT PRIMARY KEY, i INTEGER, r REAL, n NUMERIC_TEXT, b BOOLEAN, d DATE, "
                    + "ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSON_TEXT, bl BLOB, t TEXT)")
        }
        let hubSchema = try #require(try world.hubStore.tables().first { $0.name == "samples" })
        #expect(
            hubSchema.columns.map(\.type) == [
                .text, .integer, .real, .numeric, .boolean, .date, .timestamp, .timestamptz, .uuid, .json, .blob, .text,
            ])
        // The site declares every column as text but `t`, whose values are bytes.
        var siteSchema = hubSchema
        siteSchema.columns = hubSchema.columns.map { Column(name: $0.name, type: $0.name == "t" ? .blob : .text) }
        let bad: [(column: String, value: Value)] = [
            ("i", .text("about 4")), ("r", .text("four")), ("n", .text("1.2.3")), ("b", .text("maybe")),
            ("d", .text("2024-02-30")), ("ts", .text("yesterday")), ("tz", .text("2024-01-01 25:00")),
            ("u", .text("not-a-uuid")), ("j", .text("{oops")), ("bl", .text("abc")), ("t", .blob([1, 2])),
        ]
        var changes: [TableChange] = []
        for (offset, entry) in bad.enumerated() {
            var values = [Value](repeating: .null, count: siteSchema.columns.count)
            values[0] = .text("bad-\(entry.column)")
            values[siteSchema.columnIndex(named: entry.column)!] = entry.value
            changes.append(Self.insert(values, seq: Int64(offset + 1), table: "samples"))
        }
        let good: [Value] = [
            .text("good"), .text(" 42 "), .text("2.5"), .text("12.50"), .text("yes"), .text("2024-02-29"),
            .text("2024-03-01 10:00:00"), .text("2024-03-01T10:00:00.250+02:00"),
            .text("123e4567-e89b-12d3-a456-426614174000"), .text("{\"a\": [1, 2]}"), .null, .null,
        ]
        changes.append(Self.insert(good, seq: Int64(bad.count + 1), table: "samples"))
        let report = try world.hub.importBundle(
            paths: try world.craftedBundle(from: "site-a", sequence: 1, tables: [siteSchema], changes: changes))
        #expect(report.applied == 1)
        #expect(report.rejected == bad.count)
        let rejected = try world.hubStore.rejectedRows(site: "site-a", table: "samples", includeApplied: false)
        for entry in bad {
            let record = rejected.first { $0.key == "[\"bad-\(entry.column)\"]" }
            #expect(
                record?.reason.contains("column '\(entry.column)'") == true,
                "\(entry.column): \(record?.reason ?? "not set aside")")
        }
        #expect(
            try world.hubSQL.query("SELECT i, r, n, b, d FROM samples WHERE id = 'good'") == [
                [.integer(42), .real(2.5), .text("12.50"), .integer(1), .text("2024-02-29")]
            ])
        // Every site's return bundle can be written and read.
        for site in ["site-a", "site-b"] { _ = try world.exportReturn(site) }
        try world.deliverToSite("site-b", try world.exportReturn("site-b"))
        #expect(try world.siteRows("site-b", "samples").count == 1)
    }

    /// A NUL character in a primary key or any text value sets that row aside with its reason, on both stores (a
    /// PostgreSQL hub used to refuse the whole bundle, leaving the site stuck), and the rest of the bundle applies.
    @Test(arguments: HubStoreKind.available)
    func aNULCharacterSetsTheRowAsideNotTheBundle(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        let site = world.site("site-a").database
        try site.execute(
            "INSERT INTO people VALUES ('p2', 'name with ' || char(0), 2); INSERT INTO people VALUES ('p3', 'fine', 3)")
        let report = try world.deliverToHub(try world.exportSite("site-a"))
        #expect(report.applied == 1)
        #expect(report.rejected == 1)
        #expect(try world.hubRows("people") == [[.text("p3"), .text("fine"), .integer(3)]])
        try world.deliverToSite("site-a", try world.exportReturn("site-a"))
        // A key with a NUL, as a site program that does not check would send it.
        let record = try #require(try world.hubStore.sites().first)
        let schema = try #require(try world.hubStore.tables().first)
        let next = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: UInt64(record.lastSequence + 1), tables: [schema],
                changes: [
                    Self.insert([.text("a\u{0}b"), .text("key with NUL"), .integer(1)], seq: 10),
                    Self.insert([.text("p5"), .text("after it"), .integer(5)], seq: 11),
                ],
                prerequisites: [
                    SyncProperty.acknowledgedReturn: record.lastReturnSequence,
                    SyncProperty.hubVersion: record.ackedHubVersion,
                ]))
        #expect(next.applied == 1)
        #expect(next.rejected == 1)
        let rejected = try world.hubStore.rejectedRows(site: "site-a", table: nil, includeApplied: false)
        #expect(rejected.count == 2)
        #expect(rejected.allSatisfy { $0.reason.contains("NUL") })
        #expect(try world.hubRows("people").count == 2)
        // Return bundles, with the outcomes of both rows, are still written.
        _ = try world.exportReturn("site-a")
    }

    /// A change whose primary key holds NULL (a site program that does not check; SQLite takes NULL in a TEXT key)
    /// is set aside with the key column named, on both stores, and the rest of the bundle applies; at the embedded
    /// hub, a row with a NULL key typed by HQ staff is refused instead of lying there unstamped and never sent.
    @Test(arguments: HubStoreKind.available)
    func aNullKeyIsSetAsideAtIngestAndRefusedAtTheHub(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        try world.exchangeRounds(1)
        let record = try #require(try world.hubStore.sites().first)
        let schema = try #require(try world.hubStore.tables().first)
        let report = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: UInt64(record.lastSequence + 1), tables: [schema],
                changes: [
                    Self.insert([.null, .text("no key"), .integer(1)], seq: 10),
                    Self.insert([.text("p5"), .text("after it"), .integer(5)], seq: 11),
                ],
                prerequisites: [
                    SyncProperty.acknowledgedReturn: record.lastReturnSequence,
                    SyncProperty.hubVersion: record.ackedHubVersion,
                ]))
        #expect(report.applied == 1)
        #expect(report.rejected == 1)
        let rejected = try world.hubStore.rejectedRows(site: "site-a", table: nil, includeApplied: false)
        #expect(rejected.count == 1)
        #expect(rejected.allSatisfy { $0.reason.contains("column 'id' of table 'people' is part of its primary key") })
        #expect(try world.hubRows("people").count == 1)
        _ = try world.exportReturn("site-a")
        if kind == .sqlite {
            #expect(throws: (any Error).self) {
                try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES (NULL, 'typed at HQ', 3)")
            }
            #expect(try world.hubRows("people").count == 1)
        }
    }

    /// A value a column cannot carry that is already in an embedded hub (stored by an older release, or typed in
    /// the `sqlite3` shell) stops the export with a message naming the table, the row's key and the column; one
    /// with a form in its column's type (text 'yes' in a boolean column) is carried in that form.
    @Test func aBadValueAlreadyInTheEmbeddedHubIsNamedOrCarried() throws {
        let world = try SyncWorld(sites: ["site-a"], hub: .sqlite) { db in
            try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER, active BOOLEAN)")
        }
        try world.hubDatabase.execute("INSERT INTO people (id, name, age, active) VALUES ('p1', 'Amina', 31, 'yes')")
        try world.exchangeRounds(1)
        #expect(
            try world.siteRows("site-a", "people") == [[.text("p1"), .text("Amina"), .integer(31), .integer(1)]])
        try world.hubDatabase.execute(
            "INSERT INTO people (id, name, age, active) VALUES ('p2', 'Baraka', 'about 4', 1)")
        let error = try #require(throws: StoreError.self) { _ = try world.exportReturn("site-a") }
        #expect(error.message.contains("table 'people', row with key [\"p2\"]: column 'age'"))
        try world.hubDatabase.execute("UPDATE people SET age = 4 WHERE id = 'p2'")
        try world.exchangeRounds(1)
        #expect(try world.siteRows("site-a", "people").count == 2)
    }

    // MARK: Base versions

    /// A site update with base_version 999999999 (above any version the hub gave the row) of a row HQ edited is a
    /// conflict, settled by the table's rule (server_wins: HQ's edit stays) and recorded, on both stores.
    @Test(arguments: HubStoreKind.available)
    func anInflatedBaseVersionIsJudgedAsAConflict(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
        let record = try #require(try world.hubStore.sites().first)
        let schema = try #require(try world.hubStore.tables().first)
        let update = Change(
            operation: .update, origin: "site-a", originSequence: 100, baseVersion: 999_999_999,
            values: [.text("p1"), .text("Amina"), .integer(32)])
        let report = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: UInt64(record.lastSequence + 1), tables: [schema],
                changes: [TableChange(table: "people", change: update)],
                prerequisites: [
                    SyncProperty.acknowledgedReturn: record.lastReturnSequence,
                    SyncProperty.hubVersion: record.ackedHubVersion,
                ]))
        #expect(report.conflicts == 1)
        #expect(report.applied == 0)
        // Above anything the hub sent the site: lowered to the highest it sent, below HQ's version of the row.
        #expect(report.clampedBases == 1)
        #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina"), .integer(40)]])
        let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
        #expect(conflict.decision == .hubKept)
        let log = try world.hubSQL.query(
            kind == .sqlite
                ? "SELECT message FROM _fieldsync_log WHERE operation = 'ingest' ORDER BY id"
                : "SELECT message FROM sync_control.sync_log WHERE operation = 'ingest' ORDER BY log_id")
        #expect(log.contains { $0.first?.textValue?.contains("claimed a base version") == true })
    }

    /// HQ edits a row the site has; the site then sends an update claiming as its base the row's current hub
    /// version, which no return bundle ever carried to it. The base is lowered to the highest version the hub sent
    /// the site, so the change is a conflict, settled by the table's rule (server_wins: HQ's edit stays) and
    /// recorded, on both stores. Once a return bundle has brought the row, the site's next edit applies as usual.
    @Test(arguments: HubStoreKind.available)
    func aBaseAboveWhatTheHubSentTheSiteIsJudgedAsAConflict(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        try world.hubSQL.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        #expect(try world.siteRows("site-a", "people") == [[.text("p1"), .text("Amina"), .integer(31)]])
        try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
        let current = try #require(try world.hubRowsWithBookkeeping("people").first?[3].integerValue)
        let record = try #require(try world.hubStore.sites().first)
        let schema = try #require(try world.hubStore.tables().first)
        let update = Change(
            operation: .update, origin: "site-a", originSequence: 100, baseVersion: current,
            values: [.text("p1"), .text("Amina"), .integer(32)])
        let report = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: UInt64(record.lastSequence + 1), tables: [schema],
                changes: [TableChange(table: "people", change: update)],
                prerequisites: [
                    SyncProperty.acknowledgedReturn: record.lastReturnSequence,
                    SyncProperty.hubVersion: current,
                ]))
        #expect(report.conflicts == 1)
        #expect(report.applied == 0)
        #expect(report.clampedBases == 1)
        #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina"), .integer(40)]])
        let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
        #expect(conflict.decision == .hubKept)
        #expect(conflict.baseVersion < current)
        let log = try world.hubSQL.query(
            kind == .sqlite
                ? "SELECT message FROM _fieldsync_log WHERE operation = 'ingest' ORDER BY id"
                : "SELECT message FROM sync_control.sync_log WHERE operation = 'ingest' ORDER BY log_id")
        #expect(log.contains { $0.first?.textValue?.contains("above any the hub sent the site") == true })
        // Once a return bundle for the site is written (it carries HQ's row), that version is a base the site can
        // know: an edit based on it is no conflict.
        _ = try world.exportReturn("site-a")
        let sent = try #require(try world.hubStore.sites().first)
        let again = Change(
            operation: .update, origin: "site-a", originSequence: 101, baseVersion: current,
            values: [.text("p1"), .text("Amina"), .integer(41)])
        let next = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: UInt64(sent.lastSequence + 1), tables: [schema],
                changes: [TableChange(table: "people", change: again)],
                prerequisites: [
                    SyncProperty.acknowledgedReturn: sent.lastReturnSequence, SyncProperty.hubVersion: current,
                ]))
        #expect(next.applied == 1)
        #expect(next.conflicts == 0)
        #expect(next.clampedBases == 0)
        #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina"), .integer(41)]])
    }

    // MARK: Bundles refused whole

    /// A `snapshot` bundle from a site is refused with a message, changes nothing, and is logged.
    @Test(arguments: HubStoreKind.available)
    func aSnapshotFromASiteIsRefused(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        let schema = try #require(try world.hubStore.tables().first)
        let paths = try world.craftedBundle(
            from: "site-a", kind: .snapshot, sequence: 1, tables: [schema],
            changes: [Self.insert([.text("p1"), .text("Amina"), .integer(31)], seq: 1)])
        let error = try #require(throws: BundleError.self) { try world.deliverToHub(paths) }
        #expect(error.message.contains("snapshot"))
        #expect(try world.hubRows("people").isEmpty)
        let refusal = try #require(try world.hubStore.lastRefusals().first)
        #expect(refusal.site == "site-a")
        #expect(refusal.reason.contains("snapshot"))
    }

    /// `changes_through: "abc"` (or any malformed acknowledgement) refuses the bundle with a message naming the
    /// field, instead of importing it and silently never moving the acknowledgement.
    @Test(arguments: HubStoreKind.available)
    func aMalformedAcknowledgementRefusesTheBundle(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        let schema = try #require(try world.hubStore.tables().first)
        let change = Self.insert([.text("p1"), .text("Amina"), .integer(31)], seq: 1)
        let cases: [(properties: [String: String], prerequisites: [String: Int64], field: String)] = [
            ([SyncProperty.changesThrough: "abc"], [:], "changes_through"),
            ([SyncProperty.changesThrough: "-1"], [:], "changes_through"),
            ([SyncProperty.changesThrough: "1.0"], [:], "changes_through"),
            ([:], [:], "changes_through"),
            ([SyncProperty.changesThrough: "1"], [SyncProperty.acknowledgedReturn: 7], "acknowledged_return"),
            ([SyncProperty.changesThrough: "1"], [SyncProperty.hubVersion: 999_999], "hub_version"),
        ]
        for (index, entry) in cases.enumerated() {
            let paths = try world.craftedBundle(
                from: "site-a", sequence: UInt64(index + 1), tables: [schema], changes: [change],
                prerequisites: entry.prerequisites, properties: entry.properties)
            let error = try #require(throws: StoreError.self) { try world.deliverToHub(paths) }
            #expect(error.message.contains("'\(entry.field)'"), "\(error.message)")
            #expect(try world.hubRows("people").isEmpty)
            #expect(try world.hubStore.lastRefusals().first?.reason == error.message)
        }
        #expect(try world.hubStore.sites().first?.lastSequence == 0)
    }

    // MARK: Tables a site may not write

    /// A site bundle whose manifest names a table FieldSync keeps for itself is refused whole, naming the table;
    /// one whose manifest names a table the hub does not sync has that table's rows set aside (the site keeps
    /// them), naming the table, and the rest applies.
    @Test(arguments: HubStoreKind.available)
    func tablesTheHubDoesNotSyncAreRefusedOrSetAside(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        let people = try #require(try world.hubStore.tables().first)
        for reserved in ["_fieldsync_state", "sqlite_sequence", "sync_control", "pg_authid"] {
            var table = people
            table.name = reserved
            let paths = try world.craftedBundle(
                from: "site-a", sequence: 1, tables: [people, table],
                changes: [
                    Self.insert([.text("p1"), .text("Amina"), .integer(31)], seq: 1),
                    Self.insert([.text("x"), .text("y"), .integer(1)], seq: 2, table: reserved),
                ])
            #expect(throws: (any Error).self) { try world.deliverToHub(paths) }
            let refusal = try #require(try world.hubStore.lastRefusals().first)
            #expect(refusal.reason.contains("'\(reserved)'"), "\(refusal.reason)")
            #expect(try world.hubRows("people").isEmpty)
        }
        var staff = people
        staff.name = "staff_accounts"
        let report = try world.deliverToHub(
            try world.craftedBundle(
                from: "site-a", sequence: 1, tables: [people, staff],
                changes: [
                    Self.insert([.text("p1"), .text("Amina"), .integer(31)], seq: 1),
                    Self.insert([.text("s1"), .text("secret"), .integer(1)], seq: 2, table: "staff_accounts"),
                ]))
        #expect(report.applied == 1)
        #expect(report.rejected == 1)
        let rejected = try #require(
            try world.hubStore.rejectedRows(site: "site-a", table: nil, includeApplied: false).first)
        #expect(rejected.table == "staff_accounts")
        #expect(rejected.reason.contains("'staff_accounts' is not synced by this hub"))
    }

    /// `addTable` (and so `hub add-table`) refuses every name FieldSync keeps for itself, and columns the hub adds
    /// to synced tables or names FieldSync keeps, with a message naming them; a table registered under a reserved
    /// name by an older release is never synced.
    @Test(arguments: HubStoreKind.available)
    func addTableRefusesReservedNames(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        for name in ["_fieldsync_state", "fieldsync_staging", "sqlite_stat1", "pg_class", "sync_control"] {
            let error = try #require(throws: SchemaError.self) { try world.hubStore.addTable(name: name, schema: nil) }
            #expect(error.code == .reservedName)
            #expect(error.message.contains("'\(name)'"))
        }
        for column in ["sync_version", "SYNC_DELETED", "fieldsync_op", "_fieldsync_seq"] {
            let schema = try TableSchema(
                name: "notes",
                columns: [Column(name: "id", type: .text, nullable: false), Column(name: column, type: .text)],
                primaryKey: ["id"])
            let error = try #require(throws: SchemaError.self) {
                try world.hubStore.addTable(name: "notes", schema: schema)
            }
            #expect(error.message.contains("'\(column)'"))
        }
        #expect(try world.hubStore.tables().map(\.name) == ["people"])
        // A registration an older release let in is left out of the synced tables.
        let registrations = kind == .sqlite ? "_fieldsync_tables" : "sync_control.synced_tables"
        let nameColumn = kind == .sqlite ? "name" : "table_name"
        try world.hubSQL.execute(
            "INSERT INTO \(registrations) (\(nameColumn), schema_json, position) SELECT '_fieldsync_state', "
                + "schema_json, 9 FROM \(registrations)")
        #expect(try world.hubStore.tables().map(\.name) == ["people"])
        #expect(try world.hubStore.conflictRules().map(\.table) == ["people"])
        #expect(try world.hubStore.sites().count == 1)
        try world.exchangeRounds(1)
    }

    // MARK: Deletes of rows other rows still reference

    /// With a foreign key declared at the hub, HQ's `DELETE` of a parent row that synced child rows still reference
    /// is refused, naming both tables (the delete would become a tombstone that the database's own check never sees,
    /// and every site holding the children would refuse it); once the children are gone the delete goes through
    /// and reaches the sites.
    @Test(arguments: HubStoreKind.available)
    func aDeleteOfAReferencedParentIsRefusedAtTheHub(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind) { db in
            try db.execute(
                "CREATE TABLE households (id TEXT PRIMARY KEY, name TEXT); "
                    + "CREATE TABLE members (id TEXT PRIMARY KEY, household_id TEXT REFERENCES households (id), "
                    + "name TEXT)")
        }
        switch kind {
        case .sqlite:
            // SQLite adds a foreign key only by making the table again; the table is then adopted again.
            try world.hubDatabase.execute(
                """
                ALTER TABLE members RENAME TO members_old;
                CREATE TABLE members (id TEXT PRIMARY KEY, household_id TEXT REFERENCES households (id), name TEXT,
                    sync_version INTEGER NOT NULL DEFAULT 0, sync_modified_at TEXT,
                    sync_deleted INTEGER NOT NULL DEFAULT 0, sync_origin_client TEXT);
                INSERT INTO members SELECT * FROM members_old;
                DROP TABLE members_old;
                """)
            try world.hubStore.addTable(name: "members", schema: nil)
        case .postgres:
            try world.hubSQL.execute(
                "ALTER TABLE members ADD FOREIGN KEY (household_id) REFERENCES households (id)")
        }
        try world.site("site-a").database.execute(
            "INSERT INTO households VALUES ('h1', 'Achieng'); INSERT INTO households VALUES ('h2', 'Baraka'); "
                + "INSERT INTO members VALUES ('m1', 'h1', 'Amani')")
        try world.exchangeRounds(1)
        let error = try #require(throws: StoreError.self) {
            try world.hubSQL.execute("DELETE FROM households WHERE id = 'h1'")
        }
        #expect(error.message.contains("households"))
        #expect(error.message.contains("members"))
        if kind == .postgres { #expect(error.message.contains("[\"h1\"]")) }
        #expect(try world.hubRows("households").count == 2)
        #expect(try world.hubStore.danglingReferences(limit: 10).isEmpty)
        // A tombstone set by hand (or a delete from a site) is warned about: `fieldsync status` lists it.
        try world.hubSQL.execute(
            "UPDATE households SET sync_deleted = \(kind == .sqlite ? "1" : "true") WHERE id = 'h1'")
        let dangling = try world.hubStore.danglingReferences(limit: 10)
        #expect(dangling.map(\.table) == ["households"])
        #expect(dangling.map(\.child) == ["members"])
        #expect(dangling.map(\.rows) == [1])
        #expect(dangling.first?.key == "[\"h1\"]")
        try world.hubSQL.execute(
            "UPDATE households SET sync_deleted = \(kind == .sqlite ? "0" : "false") WHERE id = 'h1'")
        #expect(try world.hubStore.danglingReferences(limit: 10).isEmpty)
        // A parent nobody references goes; so does one whose children went first.
        try world.hubSQL.execute("DELETE FROM households WHERE id = 'h2'")
        try world.hubSQL.execute("DELETE FROM members WHERE id = 'm1'")
        try world.hubSQL.execute("DELETE FROM households WHERE id = 'h1'")
        try world.exchangeRounds(1)
        #expect(try world.siteRows("site-b", "households").isEmpty)
        #expect(try world.siteRows("site-b", "members").isEmpty)
        try world.expectConverged()
    }

    // MARK: Refusals leave a trace

    /// Bundles refused for an unknown sender (its claimed id, marked unverified), a bad signature, the wrong
    /// recipient, a site gone back in time, each leave a line in the hub's log with the reason, and the latest
    /// per sender is kept for `fieldsync status`.
    @Test(arguments: HubStoreKind.available)
    func everyRefusalIsLoggedWithItsReason(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
        let schema = try #require(try world.hubStore.tables().first)
        let directory = try world.directory.directory("hostile")
        func write(sender: NodeKeys, recipient: PublicIdentity) throws -> [String] {
            try BundleFixtures.write(
                [Self.insert([.text("p1"), .text("x"), .integer(1)], seq: 1, origin: sender.id)], tables: [schema],
                configuration: .init(
                    kind: .delta, sequence: 1, properties: [SyncProperty.changesThrough: "1"], directory: directory,
                    baseName: "\(sender.id)-\(UUID().uuidString)"),
                sender: sender, recipient: recipient
            ).paths
        }
        // Unknown sender: only its claimed id is known.
        #expect(throws: BundleError.self) {
            try world.deliverToHub(
                try write(sender: try NodeKeys.generate(id: "site-x"), recipient: world.hubKeys.identity))
        }
        // Bad signature: another key claiming to be site-a.
        #expect(throws: BundleError.self) {
            try world.deliverToHub(
                try write(sender: try NodeKeys.generate(id: "site-a"), recipient: world.hubKeys.identity))
        }
        // Wrong recipient: site-b's real key, addressed to another hub.
        #expect(throws: BundleError.self) {
            try world.deliverToHub(
                try write(sender: world.site("site-b").keys, recipient: try NodeKeys.generate(id: "other").identity))
        }
        let refusals = Dictionary(
            try world.hubStore.lastRefusals().map { ($0.site ?? "", $0) }, uniquingKeysWith: { $1 })
        #expect(refusals["site-x"]?.verified == false)
        #expect(refusals["site-x"]?.reason.contains("not registered") == true)
        #expect(refusals["site-x"]?.logMessage.contains("unverified") == true)
        #expect(refusals["site-a"]?.verified == false)
        #expect(refusals["site-b"]?.reason.contains("addressed to 'other'") == true)
        // A site gone back in time: verified, refused by the store.
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        let first = try world.exportSite("site-a")
        try world.deliverToHub(first)
        let replayed = try world.craftedBundle(
            from: "site-a", sequence: 1, tables: [schema],
            changes: [Self.insert([.text("p9"), .text("y"), .integer(1)], seq: 1)])
        #expect(throws: StoreError.self) { try world.deliverToHub(replayed) }
        let latest = try #require(try world.hubStore.lastRefusals().first { $0.site == "site-a" })
        #expect(latest.verified)
        #expect(latest.reason.contains("restored from an older copy"))
        let lines = try world.hubSQL.query(
            kind == .sqlite
                ? "SELECT count(*) FROM _fieldsync_log WHERE status = 'error'"
                : "SELECT count(*) FROM sync_control.sync_log WHERE status = 'error'")
        #expect(lines == [[.integer(4)]])
    }
}

/// `sync_control.sync_health` at a PostgreSQL hub, and the site records of both stores (`fieldsync status`), count
/// the conflicts that wait for a decision.
@Suite struct SyncHealthTests {
    @Test func theEmbeddedStoreCountsConflictsWaitingForADecision() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: .sqlite, schema: HubIngestHardeningTests.people)
        try world.hubStore.setConflictRule(ConflictRule(table: "people", strategy: .manual))
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.site("site-a").database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        try world.site("site-b").database.execute("UPDATE people SET age = 33 WHERE id = 'p1'")
        try world.exchangeRounds(1)
        #expect(try world.hubStore.sites().map(\.waitingConflicts) == [0, 1])
    }

    @Test(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
    func unresolvedConflictsCountsConflictsWaitingForADecision() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: .postgres, schema: HubIngestHardeningTests.people)
        try world.hubStore.setConflictRule(ConflictRule(table: "people", strategy: .manual))
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.site("site-a").database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        try world.site("site-b").database.execute("UPDATE people SET age = 33 WHERE id = 'p1'")
        try world.exchangeRounds(1)
        let waiting = try world.hubStore.conflicts(ConflictFilter(pendingOnly: true))
        #expect(waiting.count == 1)
        #expect(try world.hubStore.sites().map(\.waitingConflicts) == [0, 1])
        #expect(
            try world.hubSQL.query(
                "SELECT client_id, unresolved_conflicts FROM sync_control.sync_health ORDER BY client_id")
                == [[.text("site-a"), .integer(0)], [.text("site-b"), .integer(1)]])
    }
}
