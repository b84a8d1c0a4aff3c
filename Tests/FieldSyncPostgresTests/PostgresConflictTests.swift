import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncPostgres

/// What only the PostgreSQL hub has around conflict rules: migration 2 over an existing hub, the set-based merge
/// path, history triggers seen by staff edits, and the reference's monitoring views.
@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct PostgresConflictTests {
    /// A bundle received at a fixed time, so that edit times are the same in every run.
    func bundle(
        _ id: String, sequence: UInt64, changesThrough: Int64, hubVersion: Int64 = 0, batches: [MemoryBatch],
        created: String = "", received: Double = Self.received
    ) -> IncomingBundle {
        var bundle = memoryBundle(
            id: id, site: "site-a", sequence: sequence, changesThrough: changesThrough, hubVersion: hubVersion,
            batches: batches)
        bundle.created = created
        bundle.received = received
        return bundle
    }

    /// 2100-01-01: every edit time of the tests is before it.
    static let received: Double = 4_102_444_800

    func edit(
        _ op: Change.Operation, _ id: String, _ name: String, _ age: Int64, seq: Int64, base: Int64, at: String
    ) -> Change {
        var change = person(id, name, age, site: "site-a", seq: seq, base: base)
        change.operation = op
        change.changedAt = at
        return change
    }

    // MARK: Migration 2

    /// A hub made by the release with only migration 1, with rules, a conflict (one against a tombstone too), a
    /// notification and a set-aside row, is upgraded by opening it: its data and rules are kept and read in the
    /// new form.
    @Test func migrationTwoUpgradesAHubMadeWithMigrationOneKeepingItsData() throws {
        let database = try TestPostgres()
        let sql = try database.connect()
        try sql.execute(
            "CREATE SCHEMA sync_control; CREATE TABLE sync_control.schema_migrations (version integer PRIMARY KEY, "
                + "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        try sql.execute(PostgresMigrations.initial)
        let peopleJSON = String(decoding: try JSONEncoder().encode(peopleSchema), as: UTF8.self)
        try sql.execute(
            "INSERT INTO sync_control.schema_migrations (version, name) VALUES (1, 'sync_control schema')")
        try sql.execute(
            """
            INSERT INTO sync_control.hub_settings VALUES ('hub_id', 'hub'), ('data_schema', 'public');
            INSERT INTO sync_control.client_state (client_id, client_name, public_key, last_return_sequence)
                VALUES ('site-a', 'A', 'key', 1);
            CREATE TABLE people (id text PRIMARY KEY, name text, age bigint, sync_version bigint NOT NULL DEFAULT 0,
                sync_modified_at timestamptz, sync_deleted boolean NOT NULL DEFAULT false,
                sync_origin_client varchar(64));
            CREATE TRIGGER fieldsync_stamp BEFORE INSERT OR UPDATE ON people
                FOR EACH ROW EXECUTE FUNCTION sync_control.stamp_version('id');
            CREATE TRIGGER fieldsync_tombstone BEFORE DELETE ON people
                FOR EACH ROW EXECUTE FUNCTION sync_control.keep_tombstone('id');
            INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50), ('p2', 'gone', 2);
            DELETE FROM people WHERE id = 'p2';
            INSERT INTO sync_control.conflict_rules (table_name, detection_method, resolution_strategy)
                VALUES ('people', 'version_compare', 'server_wins');
            INSERT INTO sync_control.conflicts (client_id, table_name, pk, origin_seq, bundle_id, base_version,
                hub_version, hub_origin, incoming, hub_row, rule, decision) VALUES
                ('site-a', 'people', '["p1"]', 1, 'b1', 0, 1, NULL,
                 '{"op":"U","values":{"id":"p1","name":"Site","age":51}}', '["p1","HQ",50]', 'server_wins',
                 'hub_kept'),
                ('site-a', 'people', '["p2"]', 2, 'b1', 0, 3, NULL,
                 '{"op":"U","values":{"id":"p2","name":"kept","age":2}}', '[]', 'server_wins', 'hub_kept');
            INSERT INTO sync_control.conflict_notifications (table_name, record_id, client_id, details) VALUES
                ('people', '["p1"]', 'site-a', '{"type": "sync_conflict", "conflict_id": 1}');
            INSERT INTO sync_control.rejected_rows (client_id, table_name, pk, origin_seq, bundle_id, reason,
                incoming) VALUES ('site-a', 'people', '["p9"]', 3, 'b1', 'a reason',
                '{"op":"I","values":{"id":"p9","name":"x","age":-1}}');
            """)
        try sql.run(
            "INSERT INTO sync_control.synced_tables (table_name, schema_json, position) VALUES ('people', $1, 0)",
            [peopleJSON])

        let store = try PostgresHubStore(configuration: database.configuration())
        #expect(try sql.integer("SELECT max(version) FROM sync_control.schema_migrations") == 5)
        // Which versions its return bundle carried was not kept: the site may know every version made so far.
        #expect(
            try sql.integer("SELECT sent_version FROM sync_control.client_state WHERE client_id = 'site-a'")
                == (try sql.integer("SELECT last_value FROM sync_control.version_seq")))
        // The rule row is kept as it was: migration 1 notified by default.
        #expect(try store.conflictRules() == [ConflictRule(table: "people", notify: true)])
        let conflicts = try store.conflicts(ConflictFilter())
        #expect(conflicts.count == 2)
        #expect(conflicts[0].columns == ["id", "name", "age"])
        #expect(conflicts[0].hubRow == [.text("p1"), .text("HQ"), .integer(50)])
        #expect(conflicts[0].incoming == [.text("p1"), .text("Site"), .integer(51)])
        #expect(conflicts[0].decision == .hubKept && conflicts[0].rule == .serverWins)
        #expect(conflicts[1].hubRow == nil, "an empty array was a tombstone")
        #expect(
            try sql.scalar(
                "SELECT hub_row->>'op' || ':' || (hub_row->'values'->>'id') FROM sync_control.conflicts "
                    + "WHERE id = 2") == "D:p2")
        #expect(try store.conflict(id: 1).current == [.text("p1"), .text("HQ"), .integer(50)])
        // The old notification names its conflict and is not delivered now; sync_health still counts it.
        #expect(
            try sql.query("SELECT conflict_id::text, delivery, status FROM sync_control.conflict_notifications")
                .rows == [["1", "sent", "pending"]])
        #expect(try store.dueNotifications(now: Self.received, limit: 10).isEmpty)
        #expect(try sql.integer("SELECT unresolved_conflicts FROM sync_control.sync_health") == 1)
        let rejected = try store.rejectedRows(site: nil, table: nil, includeApplied: false)
        #expect(rejected.map(\.status) == [.setAside])
        #expect(rejected.first?.incomingOperation == .insert)
        // The new stamp trigger is in place: an ingest keeps the site's edit time.
        let report = try store.ingest(
            bundle(
                "b2", sequence: 1, changesThrough: 4,
                batches: [
                    MemoryBatch(
                        schema: peopleSchema,
                        changes: [edit(.insert, "p3", "new", 3, seq: 4, base: 0, at: "2024-05-06T07:08:09.5Z")])
                ]))
        #expect(report.applied == 1)
        #expect(
            try sql.scalar("SELECT sync_modified_at::text FROM people WHERE id = 'p3'")
                == "2024-05-06 07:08:09+00", "the edit time, to the second as the embedded store keeps it")
        // Opening it again runs nothing more.
        _ = try PostgresHubStore(configuration: database.configuration())
        #expect(try sql.integer("SELECT count(*) FROM sync_control.schema_migrations") == 5)
    }

    // MARK: Set-based merge and row path

    static let strategies: [(table: String, rule: ConflictRule)] = [
        ("t_server", ConflictRule(table: "t_server")),
        ("t_client", ConflictRule(table: "t_client", strategy: .clientWins, notify: true)),
        ("t_lww", ConflictRule(table: "t_lww", strategy: .lastWriteWins)),
        ("t_merge", ConflictRule(table: "t_merge", strategy: .fieldMerge, fallback: .lastWriteWins, notify: true)),
        ("t_manual", ConflictRule(table: "t_manual", strategy: .manual, notify: true)),
    ]

    struct Outcome: Equatable {
        var counts: [[Int]]
        var rows: [[String?]]
        var conflicts: [[String?]]
        var notifications: [[String?]]
        var history: [[String?]]
        /// Per table: whether p6 (a delete, 6th in the batch) took a lower version than p5 (an update, 5th).
        var tombstonesFirst: [Bool]
    }

    /// One bundle with a batch per strategy, each mixing conflicts (site edit vs hub edit, edit vs hub delete,
    /// delete vs hub edit, an edit to another column) with plain updates, deletes and inserts.
    func runStrategies(copyThreshold: Int) throws -> Outcome {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(
            configuration: database.configuration(copyThreshold: copyThreshold), hubID: "hub")
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        var schemas: [TableSchema] = []
        for (table, rule) in Self.strategies {
            let schema = try TableSchema(name: table, columns: peopleSchema.columns, primaryKey: ["id"])
            try store.addTable(name: table, schema: schema)
            try store.setConflictRule(rule)
            schemas.append(schema)
        }
        var seq: Int64 = 0
        func next() -> Int64 {
            seq += 1
            return seq
        }
        let first = schemas.map { schema in
            MemoryBatch(
                schema: schema,
                changes: (1...6).map {
                    edit(.insert, "p\($0)", "site \($0)", Int64($0), seq: next(), base: 0, at: "2001-01-01T00:00:00Z")
                })
        }
        _ = try store.ingest(bundle("b1", sequence: 1, changesThrough: seq, batches: first))
        let staff = try database.connect()
        let hubVersion = try staff.integer("SELECT last_value FROM sync_control.version_seq")
        var versions: [String: Int64] = [:]
        for schema in schemas {
            for row in try staff.query("SELECT id, sync_version FROM \(Identifier.quoted(schema.name))").rows {
                versions["\(schema.name).\(row[0] ?? "")"] = Int64(row[1] ?? "")
            }
        }
        for schema in schemas {
            let table = Identifier.quoted(schema.name)
            try staff.execute(
                "UPDATE \(table) SET name = 'staff 1' WHERE id = 'p1'; UPDATE \(table) SET age = 200 WHERE id = 'p2'; "
                    + "DELETE FROM \(table) WHERE id = 'p3'; "
                    + "UPDATE \(table) SET name = 'staff 4', age = 400 WHERE id = 'p4'")
        }
        let later = "2099-01-01T00:00:00Z"
        let earlier = "2000-01-01T00:00:00Z"
        let second = schemas.map { schema in
            // Each edit is based on the version the site received for that row.
            func base(_ id: String) -> Int64 { versions["\(schema.name).\(id)"] ?? 0 }
            return MemoryBatch(
                schema: schema,
                changes: [
                    edit(.update, "p1", "site 1b", 1, seq: next(), base: base("p1"), at: later),
                    edit(.update, "p2", "site 2b", 2, seq: next(), base: base("p2"), at: earlier),
                    edit(.update, "p3", "site 3b", 3, seq: next(), base: base("p3"), at: later),
                    edit(.delete, "p4", "site 4", 4, seq: next(), base: base("p4"), at: earlier),
                    edit(.update, "p5", "site 5b", 50, seq: next(), base: base("p5"), at: later),
                    edit(.delete, "p6", "site 6", 6, seq: next(), base: base("p6"), at: later),
                    edit(.insert, "p7", "site 7", 7, seq: next(), base: 0, at: later),
                ])
        }
        let report = try store.ingest(
            bundle("b2", sequence: 2, changesThrough: seq, hubVersion: hubVersion, batches: second))
        var rows: [[String?]] = []
        var tombstonesFirst: [Bool] = []
        for schema in schemas {
            let table = Identifier.quoted(schema.name)
            rows += try staff.query(
                "SELECT '\(schema.name)', id, name, age::text, sync_deleted::text, sync_origin_client, "
                    + "CASE WHEN sync_origin_client IS NOT NULL THEN sync_modified_at::text END FROM \(table) "
                    + "ORDER BY id"
            ).rows
            tombstonesFirst.append(
                try staff.scalar(
                    "SELECT (SELECT sync_version FROM \(table) WHERE id = 'p6') "
                        + "< (SELECT sync_version FROM \(table) WHERE id = 'p5')") == "t")
        }
        let history = try staff.query(
            "SELECT id, name, age::text, sync_version::text, sync_deleted::text, sync_origin_client "
                + "FROM sync_control.history_t_merge ORDER BY id, sync_version"
        ).rows
        return Outcome(
            counts: [
                [report.applied, report.unchanged, report.conflicts, report.pendingConflicts, report.rejected]
            ],
            rows: rows,
            conflicts: try staff.query(
                "SELECT id, client_id, table_name, pk, origin_seq::text, bundle_id, base_version::text, "
                    + "hub_version::text, hub_origin, incoming::text, hub_row::text, base_row::text, rule, decision, "
                    + "contested::text, site_time IS NOT NULL, hub_time IS NOT NULL "
                    + "FROM sync_control.conflicts ORDER BY id"
            ).rows,
            notifications: try staff.query(
                "SELECT table_name, record_id, client_id, conflict_id::text, status, delivery, "
                    + "(details::jsonb - 'timestamp')::text FROM sync_control.conflict_notifications "
                    + "ORDER BY notification_id"
            ).rows,
            history: history, tombstonesFirst: tombstonesFirst)
    }

    /// The set-based merge (COPY) and the row path record the same conflicts, notifications and history, and
    /// leave the same rows, whatever each table's rule.
    @Test func theSetBasedMergeAndTheRowPathSettleConflictsAlike() throws {
        let rowPath = try runStrategies(copyThreshold: 0)
        let copyPath = try runStrategies(copyThreshold: 1)
        #expect(rowPath.tombstonesFirst.allSatisfy { !$0 }, "the row path writes in the batch's order")
        #expect(copyPath.tombstonesFirst.allSatisfy { $0 }, "the set-based merge writes tombstones first")
        #expect(copyPath.counts == rowPath.counts)
        #expect(copyPath.rows == rowPath.rows)
        #expect(copyPath.conflicts == rowPath.conflicts)
        #expect(copyPath.notifications == rowPath.notifications)
        #expect(copyPath.history == rowPath.history)

        // 4 conflicts per table; applied: p5, p6, p7 in every table.
        #expect(rowPath.counts == [[15, 0, 20, 4, 0]])
        func row(_ table: String, _ id: String) -> [String?]? {
            rowPath.rows.first { $0[0] == table && $0[1] == id }.map { Array($0[2...5]) }
        }
        func decisions(_ table: String) -> [String?] {
            rowPath.conflicts.filter { $0[2] == table }.map { $0[13] }
        }
        #expect(decisions("t_server") == ["hub_kept", "hub_kept", "hub_kept", "hub_kept"])
        #expect(row("t_server", "p1") == ["staff 1", "1", "false", nil])
        #expect(decisions("t_client") == ["site_applied", "site_applied", "site_applied", "site_applied"])
        #expect(row("t_client", "p3") == ["site 3b", "3", "false", "site-a"], "client_wins revives a deleted row")
        #expect(row("t_client", "p4")?[2] == "true")
        #expect(decisions("t_lww") == ["site_applied", "hub_kept", "site_applied", "hub_kept"])
        #expect(row("t_lww", "p2") == ["site 2", "200", "false", nil])
        #expect(decisions("t_merge") == ["merged", "merged", "site_applied", "hub_kept"])
        // A merged row is the hub's making: no origin site.
        #expect(row("t_merge", "p1") == ["site 1b", "1", "false", nil], "contested, later at the site")
        #expect(row("t_merge", "p2") == ["site 2b", "200", "false", nil], "the two edits merged")
        #expect(rowPath.conflicts.first { $0[2] == "t_merge" }?[14] == "[\"name\"]")
        #expect(rowPath.conflicts.first { $0[2] == "t_merge" }?[11] != nil, "the base row came from the history")
        #expect(decisions("t_manual") == ["pending", "pending", "pending", "pending"])
        #expect(row("t_manual", "p1") == ["staff 1", "1", "false", nil])
        // Notifications only where the rule asks for them.
        #expect(Set(rowPath.notifications.map { $0[0] }) == ["t_client", "t_merge", "t_manual"])
        #expect(rowPath.notifications.count == 12)
        // Edit times on rows written from the site; times compared only where last_write_wins decides.
        #expect(row("t_server", "p5") == ["site 5b", "50", "false", "site-a"])
        #expect(
            rowPath.rows.first { $0[0] == "t_server" && $0[1] == "p5" }?[6] == "2099-01-01 00:00:00+00")
        #expect(
            rowPath.conflicts.filter { $0[15] == "t" }.map { $0[2] } == Array(repeating: "t_lww", count: 4)
                + Array(repeating: "t_merge", count: 4))
    }

    // MARK: History for staff edits

    /// The history trigger keeps the row before every staff edit that gives it a new version (not before an edit
    /// that changes nothing), a site edit based on a staff-edited version merges against it, and the history
    /// goes when the table leaves field_merge.
    @Test func historyKeepsRowsBeforeStaffEditsAndGoesWithTheRule() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        try store.setConflictRule(ConflictRule(table: "people", strategy: .fieldMerge))
        let staff = try database.connect()
        try staff.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'first', 1)")
        let v1 = try staff.integer("SELECT sync_version FROM people WHERE id = 'p1'")
        try staff.execute("UPDATE people SET name = 'second' WHERE id = 'p1'")
        try staff.execute("UPDATE people SET name = name WHERE id = 'p1'")
        let v2 = try staff.integer("SELECT sync_version FROM people WHERE id = 'p1'")
        // A return bundle takes v2 to the site (a base the site can know); the next staff edit comes after it.
        _ = try store.planReturn(for: "site-a")
        try staff.execute("UPDATE people SET age = 3 WHERE id = 'p1'")
        #expect(
            try staff.query(
                "SELECT name, age::text, sync_version::text FROM sync_control.history_people ORDER BY sync_version"
            ).rows == [["first", "1", String(v1)], ["second", "1", String(v2)]])
        // The site edited the name of version v2 ("second"); the hub changed the age since: both are kept.
        let report = try store.ingest(
            bundle(
                "b1", sequence: 1, changesThrough: 1, hubVersion: v2,
                batches: [
                    MemoryBatch(
                        schema: peopleSchema,
                        changes: [edit(.update, "p1", "site", 1, seq: 1, base: v2, at: "2024-01-01T00:00:00Z")])
                ]))
        #expect(report.conflicts == 1)
        #expect(
            try staff.query("SELECT name, age::text, sync_origin_client FROM people").rows == [["site", "3", nil]])
        let record = try #require(try store.conflicts(ConflictFilter()).first)
        #expect(record.decision == .merged)
        #expect(record.base == [.text("p1"), .text("second"), .integer(1)])
        #expect(record.contested.isEmpty)
        // Deleting keeps the live row too.
        try staff.execute("DELETE FROM people WHERE id = 'p1'")
        #expect(
            try staff.scalar("SELECT name FROM sync_control.history_people ORDER BY sync_version DESC LIMIT 1")
                == "site")
        try store.setConflictRule(ConflictRule(table: "people", strategy: .serverWins))
        #expect(try staff.scalar("SELECT to_regclass('sync_control.history_people')::text") == nil)
        #expect(
            try staff.integer("SELECT count(*) FROM pg_trigger WHERE tgname = 'fieldsync_history'") == 0)
        try staff.execute("UPDATE people SET sync_deleted = false WHERE id = 'p1'")
        #expect(try store.conflictRules() == [ConflictRule(table: "people")])
    }

    // MARK: Monitoring

    /// A manual rule with notifications: sync_health counts the pending notification, delivery is recorded with
    /// retries, and resolving the conflict resolves its notification, writes the decision as a hub change and
    /// queues a `resolved` outcome for the site.
    @Test func unresolvedConflictsCountPendingNotificationsUntilResolved() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        try store.setConflictRule(ConflictRule(table: "people", strategy: .manual, notify: true))
        let staff = try database.connect()
        try staff.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        let report = try store.ingest(
            bundle(
                "b1", sequence: 1, changesThrough: 1,
                batches: [
                    MemoryBatch(
                        schema: peopleSchema,
                        changes: [edit(.update, "p1", "Site", 51, seq: 1, base: 0, at: "2024-01-01T00:00:00Z")])
                ]))
        #expect(report.conflicts == 1 && report.pendingConflicts == 1)
        #expect(try staff.integer("SELECT unresolved_conflicts FROM sync_control.sync_health") == 1)
        _ = try staff.query("SELECT * FROM sync_control.check_sync_alerts()")
        #expect(
            try staff.scalar("SELECT rows_affected::text FROM sync_control.sync_log WHERE status = 'conflict'") == "1")

        let now = Date().timeIntervalSince1970
        let due = try store.dueNotifications(now: now, limit: 10)
        #expect(due.count == 1)
        let notification = try #require(due.first)
        #expect(notification.recordID == "[\"p1\"]" && notification.site == "site-a" && notification.attempts == 0)
        let details = try #require(
            try JSONSerialization.jsonObject(with: Data(notification.details.utf8)) as? [String: Any])
        #expect(details["type"] as? String == "sync_conflict")
        #expect(details["decision"] as? String == "pending")
        #expect(details["rule"] as? String == "manual")
        #expect(details["record_id"] as? [String] == ["p1"])
        let conflictID = try #require(details["conflict_id"] as? Int)
        try store.recordDelivery(of: notification.id, error: "connection refused", now: now)
        #expect(try store.dueNotifications(now: now + 30, limit: 10).isEmpty)
        #expect(try store.dueNotifications(now: now + 61, limit: 10).map(\.attempts) == [1])
        try store.recordDelivery(of: notification.id, error: nil, now: now + 61)
        #expect(try store.dueNotifications(now: now + 1e6, limit: 10).isEmpty)
        // Delivered is not resolved: sync_health still counts it.
        #expect(try staff.integer("SELECT unresolved_conflicts FROM sync_control.sync_health") == 1)

        let resolved = try store.resolveConflict(
            ConflictResolution(id: Int64(conflictID), take: .site, set: [(column: "age", text: "52")]))
        #expect(resolved.decision == .resolvedSite)
        #expect(resolved.current == [.text("p1"), .text("Site"), .integer(52)])
        #expect(try staff.integer("SELECT unresolved_conflicts FROM sync_control.sync_health") == 0)
        #expect(
            try staff.query("SELECT status, resolved_at IS NOT NULL FROM sync_control.conflict_notifications")
                .rows == [["resolved", "t"]])
        #expect(
            try staff.query("SELECT name, age::text, sync_origin_client FROM people").rows == [["Site", "52", nil]])
        #expect(throws: StoreError.self) {
            try store.resolveConflict(ConflictResolution(id: Int64(conflictID), take: .hub))
        }
        let plan = try store.planReturn(for: "site-a")
        let outcome = try #require(plan.outcomes.first)
        #expect(outcome.kind == .resolved)
        #expect(outcome.values == "{\"id\":\"p1\",\"name\":\"Site\",\"age\":51}")
        #expect(try streamedKeys(store, plan).contains("U:p1"))
        try store.recordReturn(plan, bundleID: "r1", rows: 1)
        #expect(
            try staff.query("SELECT return_sequence::text, resolved_return_sequence::text FROM sync_control.conflicts")
                .rows == [["1", "1"]])
    }

    /// A bundle written by a clock far ahead has its edit times corrected, and the sync log says so.
    @Test func aSiteClockFarOffIsCorrectedAndLogged() throws {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let received = Date().timeIntervalSince1970
        let report = try store.ingest(
            bundle(
                "b1", sequence: 1, changesThrough: 1,
                batches: [
                    MemoryBatch(
                        schema: peopleSchema,
                        changes: [
                            edit(.insert, "p1", "x", 1, seq: 1, base: 0, at: SiteClock.format(received + 7200 - 60))
                        ])
                ], created: SiteClock.format(received + 7200), received: received))
        let offset = try #require(report.clockOffset)
        #expect(abs(offset + 7200) < 1)
        let staff = try database.connect()
        #expect(
            try staff.scalar("SELECT message FROM sync_control.sync_log WHERE status = 'clock_skew'")?
                .contains("-7200 seconds") == true)
        let stored = try staff.scalar("SELECT extract(epoch FROM sync_modified_at)::text FROM people")
        #expect(((stored.flatMap(Double.init) ?? 0) - (received - 60).rounded(.down)) == 0, "kept to the second")
    }
}
