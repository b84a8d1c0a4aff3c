import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

/// Power cuts during a hub import into PostgreSQL, played with SIGKILL, as `CrashTests` does for the embedded
/// store: `fieldsync bundle import` at a hub created with `hub init --store postgresql://…` runs as a child process
/// and is killed after a seeded random delay. Whenever it dies, the hub database must hold exactly the state before
/// the import or exactly the state after a complete one (the synced table and the `sync_control` bookkeeping,
/// timestamps and the log left out); the import run again must then succeed and leave the reference result.
///
/// Versions come from a sequence, which a rolled-back transaction still advances: an import killed and run again
/// stamps higher `sync_version`s than the reference. So the synced table is compared with each row's version as its
/// rank among the table's versions (the order is what the return watermark relies on); the bookkeeping tables are
/// compared without their own serial ids (also sequences) and timestamps.
@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct PostgresCrashTests {
    /// Rows in the big bundle: enough that an import takes a while, few enough to keep the test short.
    static let rows = 10_000

    /// The seed of the kill delays; a failure message names it, so a run can be replayed.
    static let seed: UInt64 = 0x5EED_F1E1_D5AF_E002

    /// The hub node directory and database that each kill works on.
    struct Hub {
        let node: String
        let database: TestPostgresCopy
    }

    @Test func aKilledHubImportIntoPostgresLeavesTheStoreAsBeforeOrAsAfterNeverBetween() throws {
        print("PostgresCrashTests seed \(Self.seed)")
        let directory = try TemporaryDirectory(prefix: "fieldsync-crash-pg")
        let pristine = try TestPostgres()
        let hubDirectory = directory.file("hub")
        @discardableResult
        func fieldsync(_ arguments: [String]) throws -> FieldSyncCommand.Output {
            let output = try FieldSyncCommand.run(arguments, in: directory.path)
            guard output.status == 0 else {
                throw CommandError(
                    "fieldsync \(arguments.joined(separator: " ")) exited with \(output.status): "
                        + "\(output.stdout)\n\(output.stderr)")
            }
            return output
        }

        // The hub on PostgreSQL; the hub refuses NULL stations, so some rows are set aside: that bookkeeping must
        // be all-or-nothing too. HQ has edited row 1, which the site also sends: a conflict.
        try fieldsync(["hub", "init", "--dir", hubDirectory, "--id", "hub", "--store", pristine.url])
        try fieldsync([
            "hub", "add-table", "--dir", hubDirectory, "readings", "--column", "id:integer:notnull",
            "--column", "station:text:notnull", "--column", "value:real", "--column", "note:text",
            "--primary-key", "id",
        ])
        try {
            let connection = try pristine.connect()
            try connection.execute(
                "INSERT INTO readings (id, station, value, note) VALUES (1, 'hq', 0.5, 'edited at HQ')")
        }()
        let siteDatabase = directory.file("site-a.sqlite")
        try SQLiteShell.run(
            siteDatabase,
            """
            CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL, note TEXT);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(Self.rows))
            INSERT INTO readings SELECT i, CASE WHEN i % 997 = 0 THEN NULL ELSE 'st-' || (i % 53) END,
                i * 0.25, printf('reading %d of a long survey', i) FROM n;
            """)
        try fieldsync([
            "site", "init", "--dir", directory.file("site-a"), "--id", "site-a", "--db", siteDatabase,
            "--hub-public-key", directory.file("hub/keys/hub.pub"),
        ])
        try fieldsync([
            "hub", "add-site", "--dir", hubDirectory, "site-a", "--public-key",
            directory.file("site-a/keys/site-a.pub"),
        ])
        let out = try directory.directory("out")
        let export = try fieldsync(["bundle", "export", "--dir", directory.file("site-a"), "--out", out, "--json"])
        let reports = try JSONDecoder().decode([ExportJSON].self, from: Data(export.stdout.utf8))
        let file = try #require(reports.first?.files.first)
        let bundle = file.hasPrefix("/") ? file : directory.file(file)
        try pristine.waitUntilIdle()

        /// A fresh copy of the hub as it was before the import: its database and a node directory pointing at it.
        func copyHub(_ label: String) throws -> Hub {
            let database = try TestPostgresCopy(of: pristine)
            let node = directory.file(label)
            try FileManager.default.copyItem(atPath: hubDirectory, toPath: node)
            let path = "\(node)/fieldsync.json"
            var configuration =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
                ?? [:]
            #expect(configuration["store"] as? String == pristine.url)
            configuration["store"] = database.url
            try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: path))
            return Hub(node: node, database: database)
        }

        func timedImport(_ hub: Hub) throws -> (FieldSyncCommand.Output, Double) {
            let clock = ContinuousClock()
            var output: FieldSyncCommand.Output?
            let duration = try clock.measure {
                output = try FieldSyncCommand.run(["bundle", "import", "--dir", hub.node, bundle], in: directory.path)
            }
            return (output!, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        }

        // The state before, and the reference results of an import run once and run twice.
        let reference = try copyHub("hub-reference")
        let before = try Self.state(reference.database)
        var (first, estimate) = try timedImport(reference)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied bundle 1"), "\(first.stdout)")
        let afterOnce = try Self.state(reference.database)
        #expect(afterOnce != before)
        #expect(afterOnce.contains { $0.hasPrefix("rejected_rows") }, "the reference import sets rows aside")
        #expect(afterOnce.contains { $0.hasPrefix("conflicts") }, "the reference import records a conflict")
        let repeated = try fieldsync(["bundle", "import", "--dir", reference.node, bundle])
        #expect(repeated.stdout.contains("already applied"), "\(repeated.stdout)")
        let afterTwice = try Self.state(reference.database)

        // When to kill: at once, very early, spread over the import, and after it should have finished, as
        // fractions of the shortest complete import seen so far. The durations only place the kills.
        var generator = SeededGenerator(seed: Self.seed)
        var fractions: [Double] = []
        for _ in 0..<5 { fractions.append(Double.random(in: 0.05...0.95, using: &generator)) }
        fractions.append(Double.random(in: 1.0...1.3, using: &generator))
        // The last, well after the end, makes sure the "committed" branch is checked on every run.
        fractions.append(2.5)
        let kills: [(seconds: Double, fraction: Double)] = [(0, 0), (0.001, 0), (0.01, 0)] + fractions.map { (0, $0) }

        var outcomes: [String] = []
        for (index, kill) in kills.enumerated() {
            let delay = kill.seconds + kill.fraction * estimate
            let context = "postgres hub kill \(index) after \(String(format: "%.3f", delay)) s (seed \(Self.seed))"
            let work = try copyHub("hub-kill-\(index)")
            let ending = try ChildProcess.runAndKill(
                FieldSyncCommand.executable, ["bundle", "import", "--dir", work.node, bundle],
                in: directory.path, after: delay)
            #expect(ending == .killed || ending == .exited(0), "\(context): \(ending)")
            // The server notices the dead client only when it next talks to it; until its session has ended, a
            // COMMIT already sent could still land.
            let idle = try work.database.waitUntilIdle()
            #expect(idle, "\(context): the killed client's session did not end")

            let state = try Self.state(work.database)
            let committed: Bool
            if state == before {
                committed = false
            } else {
                #expect(
                    state == afterOnce,
                    Comment(
                        rawValue: "\(context): the database is neither as before nor as after the import: "
                            + Self.firstDifference(afterOnce, state)))
                committed = true
            }
            if ending == .exited(0) {
                #expect(committed, "\(context): exited 0 but left nothing")
            }
            outcomes.append(
                "\(String(format: "%.3f", delay)) s: \(committed ? "committed" : "untouched")"
                    + (ending == .killed ? "" : " (had finished)"))

            // Run again: it completes, and the result is the reference's.
            let (again, duration) = try timedImport(work)
            #expect(again.status == 0, "\(context): import again: \(again.stderr)")
            let final = try Self.state(work.database)
            if committed {
                #expect(again.stdout.contains("already applied"), "\(context): \(again.stdout)")
                #expect(final == afterTwice, "\(context): \(Self.firstDifference(afterTwice, final))")
            } else {
                estimate = min(estimate, duration)
                #expect(again.stdout.contains("applied bundle 1"), "\(context): \(again.stdout)")
                #expect(final == afterOnce, "\(context): \(Self.firstDifference(afterOnce, final))")
            }
            try FileManager.default.removeItem(atPath: work.node)
        }
        print("postgres hub import of \(Self.rows) rows killed after \(outcomes.joined(separator: "; "))")
    }

    /// What must be all-or-nothing, one line per part: a count and checksum of the synced table (versions as
    /// ranks) and of each bookkeeping table (timestamps left out), the version sequence left out.
    static func state(_ database: TestPostgresCopy) throws -> [String] {
        let connection = try database.connect()
        let parts: [(String, String)] = [
            (
                "readings",
                """
                SELECT id, station, value, note, sync_deleted, sync_origin_client,
                    dense_rank() OVER (ORDER BY sync_version) AS version_rank FROM readings
                """
            ),
            ("hub_settings", "SELECT key, value FROM sync_control.hub_settings"),
            (
                "client_state",
                """
                SELECT client_id, client_name, last_sync_version, sync_status, public_key, last_sequence, last_bundle,
                    applied_through, acked_return, last_return_sequence FROM sync_control.client_state
                """
            ),
            (
                "table_sync_state",
                """
                SELECT client_id, table_name, last_synced_version, row_count_synced, sync_priority, sync_direction,
                    sync_filter FROM sync_control.table_sync_state
                """
            ),
            ("synced_tables", "SELECT table_name, schema_json, position, direction FROM sync_control.synced_tables"),
            (
                "bundles",
                "SELECT bundle_id, client_id, sequence, direction, status, rows, conflicts, rejected "
                    + "FROM sync_control.bundles"
            ),
            (
                "conflicts",
                """
                SELECT client_id, table_name, pk, origin_seq, bundle_id, base_version, hub_version, hub_origin,
                    incoming::text, hub_row::text, rule, decision, return_sequence FROM sync_control.conflicts
                """
            ),
            (
                "conflict_notifications",
                // The notification's conflict id comes from a sequence (see above) and it carries a timestamp: only
                // whether it names a recorded conflict is compared.
                """
                SELECT table_name, record_id, client_id, (details::jsonb - 'timestamp' - 'conflict_id')::text, status,
                    EXISTS (SELECT 1 FROM sync_control.conflicts c WHERE c.id = (n.details->>'conflict_id')::bigint)
                FROM sync_control.conflict_notifications n
                """
            ),
            (
                "rejected_rows",
                """
                SELECT client_id, table_name, pk, origin_seq, bundle_id, reason, incoming::text, return_sequence,
                    correct FROM sync_control.rejected_rows
                """
            ),
            ("resend_rows", "SELECT client_id, table_name, pk, return_sequence FROM sync_control.resend_rows"),
        ]
        return try parts.map { name, select in
            let row = try connection.query(
                "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM (\(select)) t"
            )
            .rows[0]
            // A table that holds nothing is left out, so that "rejected_rows" shows only when rows were set aside.
            return row[0] == "0" ? "" : "\(name): \(row[0] ?? "?") rows, md5 \(row[1] ?? "?")"
        }
        .filter { !$0.isEmpty }
    }

    static func firstDifference(_ expected: [String], _ actual: [String]) -> String {
        for (a, b) in zip(expected, actual) where a != b { return "expected \(a), found \(b)" }
        return "expected \(expected.count) parts, found \(actual.count): \(actual)"
    }
}

/// A `fieldsync` command that failed.
struct CommandError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
