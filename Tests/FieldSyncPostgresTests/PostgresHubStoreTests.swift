import FieldSyncCore
import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct PostgresHubStoreTests {
    @Test func theSchemaIsCreatedOnceAndMigratingAgainChangesNothing() throws {
        let database = try TestPostgres()
        _ = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        let again = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        _ = try PostgresHubStore(configuration: database.configuration())
        let sql = try database.connect()
        #expect(try sql.integer("SELECT count(*) FROM sync_control.schema_migrations") == 5)
        let tables = Set(
            try sql.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync_control'"
            ).rows.compactMap { $0[0] })
        for name in [
            "client_state", "table_sync_state", "sync_log", "conflict_rules", "conflict_notifications", "sync_health",
            "sync_metrics",
        ] {
            #expect(tables.contains(name), "missing sync_control.\(name)")
        }
        // The reference procedure's monitoring queries run unchanged.
        try again.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        #expect(
            try sql.query("SELECT client_id, sync_status FROM sync_control.client_state").rows == [
                ["site-a", "pending"]
            ])
        _ = try sql.query(
            """
            SELECT client_name,
                CASE WHEN hours_since_sync < 4 THEN 'healthy' WHEN hours_since_sync < 24 THEN 'warning'
                ELSE 'critical' END AS status,
                hours_since_sync, pending_changes, unresolved_conflicts
            FROM sync_control.sync_health ORDER BY hours_since_sync DESC
            """)
        _ = try sql.query("SELECT * FROM sync_control.check_sync_alerts()")
        _ = try sql.query("SELECT * FROM sync_control.sync_metrics")
        #expect(throws: StoreError.self) {
            try PostgresHubStore.create(configuration: database.configuration(), hubID: "other-hub")
        }
    }

    @Test func staffEditsWithSQLGetVersionsAndDeletesBecomeTombstones() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        let staff = try database.connect()
        try staff.execute(
            "CREATE TABLE people (id text PRIMARY KEY, name text, age integer); "
                + "INSERT INTO people VALUES ('p0', 'Before FieldSync', 40)")
        let schema = try store.addTable(name: "people", schema: nil)
        #expect(schema.columns.map(\.type) == [.text, .text, .integer])
        #expect(
            try staff.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'people' "
                    + "AND column_name LIKE 'sync_%' ORDER BY column_name"
            ).rows.map { $0[0] } == ["sync_deleted", "sync_modified_at", "sync_origin_client", "sync_version"])
        let version = { (id: String) throws -> Int64 in
            try staff.integer("SELECT sync_version FROM people WHERE id = $1", [id])
        }
        // A row that existed before the table was added has a version, so it is synced too.
        #expect(try version("p0") > 0)
        try staff.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'Amina', 31)")
        let inserted = try version("p1")
        #expect(inserted > (try version("p0")))
        #expect(try staff.scalar("SELECT sync_origin_client FROM people WHERE id = 'p1'") == nil)
        // An update that changes nothing is not a new version, even one that writes the sync columns.
        try staff.execute("UPDATE people SET name = name, age = age, sync_version = 999 WHERE id = 'p1'")
        #expect(try version("p1") == inserted)
        try staff.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        let updated = try version("p1")
        #expect(updated > inserted)
        // A DELETE keeps the row as a tombstone with a new version.
        try staff.execute("DELETE FROM people WHERE id = 'p1'")
        #expect(try staff.scalar("SELECT sync_deleted FROM people WHERE id = 'p1'") == "t")
        #expect(try version("p1") > updated)
        // Changing a key leaves a tombstone for the old key.
        try staff.execute("UPDATE people SET id = 'p2' WHERE id = 'p0'")
        #expect(try staff.scalar("SELECT sync_deleted FROM people WHERE id = 'p0'") == "t")
        #expect(try staff.scalar("SELECT sync_deleted FROM people WHERE id = 'p2'") == "f")
        #expect(throws: StoreError.self) { try staff.execute("TRUNCATE people") }

        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let plan = try store.planReturn(for: "site-a")
        let keys = try streamedKeys(store, plan)
        #expect(Set(keys) == ["D:p0", "D:p1", "U:p2"])
        #expect(keys.prefix(2).allSatisfy { $0.hasPrefix("D:") }, "tombstones come first")
        try store.recordReturn(plan, bundleID: "r1", rows: keys.count)
        #expect(try store.sites().first?.pendingRows == 3)
        #expect(
            try staff.integer("SELECT row_count_synced FROM sync_control.table_sync_state WHERE client_id = 'site-a'")
                == 3)
    }

    /// Sequence order is not commit order: A takes a version, B takes a later one and commits, a return bundle is
    /// written, then A commits. A's row must still reach the site.
    @Test func aChangeCommittedLateIsNeverSkipped() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(
            configuration: database.configuration(watermarkWait: .milliseconds(200)), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let a = try database.connect()
        let b = try database.connect()
        try a.execute("BEGIN; INSERT INTO people (id, name, age) VALUES ('a', 'from A', 1)")
        try b.execute("BEGIN; INSERT INTO people (id, name, age) VALUES ('b', 'from B', 2); COMMIT")
        let versionB = try b.integer("SELECT sync_version FROM people WHERE id = 'b'")
        let versionA = try a.integer("SELECT sync_version FROM people WHERE id = 'a'")
        #expect(versionA < versionB)

        let first = try store.planReturn(for: "site-a")
        #expect(first.throughVersion < versionA, "a version held by a running transaction must not be passed")
        let firstKeys = try streamedKeys(store, first)
        try store.recordReturn(first, bundleID: "r1", rows: firstKeys.count)
        try a.execute("COMMIT")
        // The site acknowledges each return bundle; A's row comes in a later one. Other tests share the server, and
        // their open transactions can hold the watermark back past the short wait, so allow a few rounds: the
        // promise is that no change is ever skipped, not that it comes in the very next bundle.
        var previous = first
        var laterKeys: [String] = []
        for round in 1...20 where !laterKeys.contains("U:a") {
            _ = try store.ingest(
                memoryBundle(
                    id: "s\(round)", site: "site-a", sequence: UInt64(round), changesThrough: 0,
                    hubVersion: previous.throughVersion, acknowledgedReturn: Int64(previous.sequence), batches: []))
            let next = try store.planReturn(for: "site-a")
            #expect(next.afterVersion == previous.throughVersion)
            let keys = try streamedKeys(store, next)
            try store.recordReturn(next, bundleID: "r\(round + 1)", rows: keys.count)
            laterKeys += keys
            previous = next
        }
        #expect(laterKeys.contains("U:a"))
        #expect(Set(firstKeys + laterKeys) == ["U:a", "U:b"])
        #expect(firstKeys.count + laterKeys.count == 2, "each change is carried once")
    }

    /// Two hub processes ingest bundles 1 and 2 of one site at once: the second waits for the site's lock, then
    /// applies after the first, in order, and each bundle is applied once.
    @Test func concurrentIngestsOfOneSiteAreSerialisedInOrder() throws {
        let database = try TestPostgres()
        let setup = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        try setup.addTable(name: "people", schema: peopleSchema)
        try setup.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let configuration = database.configuration()
        let started = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let results = Shared<[String]>([])
        let first = onThread {
            do {
                let store = try PostgresHubStore(configuration: configuration)
                let report = try store.ingest(
                    memoryBundle(
                        id: "b1", site: "site-a", sequence: 1, changesThrough: 1,
                        batches: [
                            MemoryBatch(schema: peopleSchema, changes: [person("p1", "one", 1, site: "site-a", seq: 1)])
                        ],
                        beforeFirstBatch: {
                            started.signal()
                            gate.wait()
                        }))
                results.value.append("b1:\(report.status.rawValue)")
            } catch {
                results.value.append("b1:error \(error)")
            }
        }
        started.wait()
        let second = onThread {
            do {
                let store = try PostgresHubStore(configuration: configuration)
                let report = try store.ingest(
                    memoryBundle(
                        id: "b2", site: "site-a", sequence: 2, changesThrough: 2,
                        batches: [
                            MemoryBatch(schema: peopleSchema, changes: [person("p1", "two", 2, site: "site-a", seq: 2)])
                        ]))
                results.value.append("b2:\(report.status.rawValue)")
            } catch {
                results.value.append("b2:error \(error)")
            }
        }
        // The second ingest waits on the site's advisory lock while the first holds it.
        let observer = try database.connect()
        var waiting = false
        for _ in 0..<500 where !waiting {
            waiting =
                try observer.integer(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") > 0
            if !waiting { usleep(10_000) }
        }
        #expect(waiting)
        #expect(results.value.isEmpty)
        gate.signal()
        first.wait()
        second.wait()
        #expect(results.value == ["b1:applied", "b2:applied"])
        #expect(try observer.scalar("SELECT name FROM people WHERE id = 'p1'") == "two")
        #expect(
            try observer.query("SELECT bundle_id FROM sync_control.bundles WHERE direction = 'in' ORDER BY sequence")
                .rows == [["b1"], ["b2"]])
        // The same bundle delivered to two processes at once is applied once.
        let again = Shared<[String]>([])
        let deliveries = (0..<2).map { _ in
            onThread {
                do {
                    let store = try PostgresHubStore(configuration: configuration)
                    let report = try store.ingest(
                        memoryBundle(
                            id: "b3", site: "site-a", sequence: 3, changesThrough: 3,
                            batches: [
                                MemoryBatch(
                                    schema: peopleSchema, changes: [person("p1", "three", 3, site: "site-a", seq: 3)])
                            ]))
                    again.value.append(report.status.rawValue)
                } catch {
                    again.value.append("error \(error)")
                }
            }
        }
        deliveries.forEach { $0.wait() }
        #expect(again.value.sorted() == ["already_applied", "applied"])
        #expect(try observer.integer("SELECT count(*) FROM sync_control.bundles WHERE bundle_id = 'b3'") == 1)
    }

    @Test func conflictsAndRejectedRowsAreRecordedWithBothVersions() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let staff = try database.connect()
        try staff.execute("ALTER TABLE people ADD CONSTRAINT age_positive CHECK (age >= 0)")
        try staff.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        let report = try store.ingest(
            memoryBundle(
                id: "b1", site: "site-a", sequence: 1, changesThrough: 3,
                batches: [
                    MemoryBatch(
                        schema: peopleSchema,
                        changes: [
                            person("p1", "Site", 51, site: "site-a", seq: 1),
                            person("p2", "Bad age", -1, site: "site-a", seq: 2),
                            person("p3", "Fine", 3, site: "site-a", seq: 3),
                        ])
                ]))
        #expect(report.conflicts == 1)
        #expect(report.rejected == 1)
        #expect(report.applied == 1)
        #expect(try staff.scalar("SELECT name FROM people WHERE id = 'p1'") == "HQ")
        #expect(try staff.scalar("SELECT sync_origin_client FROM people WHERE id = 'p3'") == "site-a")
        #expect(
            try staff.query(
                "SELECT pk, incoming->'values'->>'name', hub_row->'values'->>'name' FROM sync_control.conflicts"
            ).rows == [["[\"p1\"]", "Site", "HQ"]])
        #expect(try staff.scalar("SELECT reason FROM sync_control.rejected_rows")?.contains("age_positive") == true)
        // The default rule does not notify.
        #expect(try staff.integer("SELECT unresolved_conflicts FROM sync_control.sync_health") == 0)
        let plan = try store.planReturn(for: "site-a")
        #expect(Set(plan.outcomes.map(\.kind)) == [.conflictHubKept, .rejected])
        let keys = try streamedKeys(store, plan)
        #expect(keys.contains("U:p1"))
        #expect(keys.contains("D:p2"))
        #expect(!keys.contains("U:p3"), "a site never receives its own change")
    }

    /// A first load goes through COPY and one INSERT; a batch where one row breaks a constraint falls back to
    /// row-by-row and sets only that row aside, with the same result as without the COPY path.
    @Test(arguments: [1, 0]) func bulkLoadsGoThroughCopyWithTheSameOutcome(copyThreshold: Int) throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(
            configuration: database.configuration(copyThreshold: copyThreshold), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let staff = try database.connect()
        try staff.execute("ALTER TABLE people ADD CONSTRAINT age_positive CHECK (age >= 0)")
        let rows = (1...3000).map { person("p\($0)", "name \t\($0)", Int64($0), site: "site-a", seq: Int64($0)) }
        let first = try store.ingest(
            memoryBundle(
                id: "b1", site: "site-a", sequence: 1, changesThrough: 3000,
                batches: [MemoryBatch(schema: peopleSchema, changes: rows)]))
        #expect(first.applied == 3000)
        #expect(
            try staff.query(
                "SELECT count(DISTINCT sync_version), min(sync_origin_client), max(sync_origin_client) FROM people"
            ).rows == [["3000", "site-a", "site-a"]])
        #expect(try staff.scalar("SELECT name FROM people WHERE id = 'p7'") == "name \t7")
        var more = (3001...4000).map { person("p\($0)", "more", 1, site: "site-a", seq: Int64($0)) }
        more[500].values[2] = .integer(-1)
        let second = try store.ingest(
            memoryBundle(
                id: "b2", site: "site-a", sequence: 2, changesThrough: 4000,
                batches: [MemoryBatch(schema: peopleSchema, changes: more)]))
        #expect(second.applied == 999)
        #expect(second.rejected == 1)
        #expect(try staff.integer("SELECT count(*) FROM people") == 3999)
        #expect(try staff.scalar("SELECT pk FROM sync_control.rejected_rows") == "[\"p3501\"]")
    }

    @Test func typesMapBothWaysAndUnknownTypesAreRefusedNamingTheColumn() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        let staff = try database.connect()
        try staff.execute(
            """
            CREATE TABLE everything (id bigint PRIMARY KEY, t text, v varchar(20), i integer, s smallint,
                n numeric(10,2), r real, d double precision, b boolean, day date, ts timestamp, tz timestamptz,
                u uuid, j json, jb jsonb, bin bytea NOT NULL)
            """)
        let adopted = try store.addTable(name: "everything", schema: nil)
        #expect(
            adopted.columns.map(\.type) == [
                .integer, .text, .text, .integer, .integer, .numeric, .real, .real, .boolean, .date, .timestamp,
                .timestamptz, .uuid, .json, .json, .blob,
            ])
        #expect(adopted.columns.last?.nullable == false)
        try staff.execute("CREATE TABLE odd (id integer PRIMARY KEY, span interval)")
        let error = try #require(throws: StoreError.self) { try store.addTable(name: "odd", schema: nil) }
        #expect(error.code == .schema)
        #expect(error.message.contains("'span'") && error.message.contains("interval"))

        let created = try TableSchema(
            name: "created",
            columns: ColumnType.allTypes.filter { $0 != .any }.map { Column(name: "c_\($0.name)", type: $0) }
                + [Column(name: "id", type: .integer, nullable: false)],
            primaryKey: ["id"])
        #expect(try store.addTable(name: "created", schema: created) == created)
        let declared = try staff.query(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
                + "JOIN pg_attribute a ON a.attrelid = 'created'::regclass AND a.attname = c.column_name "
                + "WHERE table_name = 'created' AND column_name LIKE 'c\\_%' ORDER BY ordinal_position"
        ).rows.map { "\($0[0]!)=\($0[1]!)" }
        #expect(
            declared == [
                "c_integer=bigint", "c_real=double precision", "c_text=text", "c_blob=bytea", "c_numeric=numeric",
                "c_boolean=boolean", "c_date=date", "c_timestamp=timestamp without time zone",
                "c_timestamptz=sync_control.timestamptz_text", "c_uuid=uuid", "c_json=json",
            ])
        // Read back from the catalog, the created table maps to the same types.
        #expect(
            try PostgresSchema.read(table: "created", schema: "public", from: staff).columns.prefix(11).map(\.type)
                == created.columns.prefix(11).map(\.type))
        let untyped = try TableSchema(
            name: "loose", columns: [Column(name: "id", type: .integer), Column(name: "anything", type: .any)],
            primaryKey: ["id"])
        let refused = try #require(throws: StoreError.self) { try store.addTable(name: "loose", schema: untyped) }
        #expect(refused.message.contains("'anything'"))
    }

    @Test func connectionErrorsCarryTheSQLStateAndMapToCodes() throws {
        let database = try TestPostgres()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id integer PRIMARY KEY, u text UNIQUE)")
        try connection.run("INSERT INTO t VALUES ($1, $2)", ["1", "x"])
        let duplicate = try #require(throws: StoreError.self) {
            try connection.run("INSERT INTO t VALUES ($1, $2)", ["2", "x"])
        }
        #expect(duplicate.code == .constraint)
        #expect(duplicate.message.contains("23505"))
        let badValue = try #require(throws: StoreError.self) {
            try connection.run("INSERT INTO t VALUES ($1, $2)", ["not a number", "y"])
        }
        #expect(badValue.code == .constraint)
        let missing = try #require(throws: StoreError.self) { try connection.execute("SELECT * FROM nowhere") }
        #expect(missing.code == .schema)
        let unreachable = try #require(throws: StoreError.self) {
            try PostgresConnection(conninfo: "host=127.0.0.1 port=1 connect_timeout=2")
        }
        #expect(unreachable.code == .connection)
        // A transaction rolls back when its body throws; COPY streams rows in; a cursor reads them back in batches.
        #expect(throws: StoreError.self) {
            try connection.withTransaction {
                try connection.run("INSERT INTO t VALUES ($1, $2)", ["3", "z"])
                throw StoreError(.statement, "stop")
            }
        }
        #expect(try connection.integer("SELECT count(*) FROM t") == 1)
        let copied = try connection.copyIn("COPY t (id, u) FROM STDIN") { writer in
            for index in 10..<2010 { try writer.row([String(index), index % 2 == 0 ? "tab\there \\ \(index)" : nil]) }
        }
        #expect(copied == 2000)
        #expect(try connection.scalar("SELECT u FROM t WHERE id = 10") == "tab\there \\ 10")
        var seen = 0
        try connection.withTransaction {
            try connection.withCursor("SELECT id FROM t WHERE id >= $1 ORDER BY id", ["10"], batch: 300) { _, _ in
                seen += 1
            }
        }
        #expect(seen == 2000)
    }
}
