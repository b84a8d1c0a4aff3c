import FieldSyncCore
import Foundation

extension SQLiteHubStore {
    /// Applies a site's bundle in one transaction.
    ///
    /// A bundle whose sequence is not newer than the last one applied from the site changes nothing and is reported
    /// as already applied or superseded; a gap in sequences is reported (nothing is lost: bundles are cumulative).
    /// Each change is judged against the hub's row: applied, unchanged, or a conflict, in which case the hub keeps
    /// its row and records both versions. A change that breaks a constraint is set aside with its reason and the
    /// rest of the bundle applies.
    public func ingest(_ bundle: IncomingBundle) throws -> IngestReport {
        let started = DispatchTime.now()
        return try connection.withTransaction {
            guard
                let site = try connection.query(
                    "SELECT last_sequence, last_bundle, applied_through, acked_return, acked_hub_version "
                        + "FROM _fieldsync_sites WHERE site_id = ?",
                    [.text(bundle.site)]
                ).first
            else {
                throw StoreError(
                    .notFound, "site '\(bundle.site)' is not registered at this hub; run 'fieldsync hub add-site'",
                    location: bundle.source)
            }
            let lastSequence = UInt64(site[0].integerValue ?? 0)
            var appliedThrough = site[2].integerValue ?? 0
            var report = IngestReport(
                status: .applied, site: bundle.site, bundleID: bundle.bundleID, sequence: bundle.sequence)
            try bundle.checkFollows(
                lastSequence: lastSequence, ackedReturn: site[3].integerValue ?? 0,
                ackedHubVersion: site[4].integerValue ?? 0
            ) {
                try connection.scalar(
                    "SELECT bundle_id FROM _fieldsync_bundles WHERE site_id = ? AND sequence = ? AND direction = 'in'",
                    [.text(bundle.site), .integer(Int64(bundle.sequence))])?.textValue
            }
            if bundle.sequence <= lastSequence {
                let seen =
                    try connection.scalar(
                        "SELECT 1 FROM _fieldsync_bundles WHERE bundle_id = ?", [.text(bundle.bundleID)]) != nil
                report.status = seen ? .alreadyApplied : .superseded
                try log(
                    site: bundle.site, operation: "ingest", rows: 0, milliseconds: elapsed(since: started),
                    status: "skipped",
                    message: "bundle \(bundle.bundleID) sequence \(bundle.sequence): "
                        + "\(report.status.rawValue) (last applied \(lastSequence))")
                return report
            }
            if bundle.sequence > lastSequence + 1 {
                report.missedSequences = (lastSequence + 1)...(bundle.sequence - 1)
            }
            try connection.run("DELETE FROM _fieldsync_applying")
            try connection.run("INSERT INTO _fieldsync_applying (origin) VALUES (?)", [.text(bundle.site)])
            let tables = Dictionary(try tables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let recorder = try OutcomeRecorder(connection: connection, site: bundle.site, bundleID: bundle.bundleID)
            let versions = VersionAllocator(
                last: try connection.integer("SELECT version FROM _fieldsync_counter WHERE id = 1"), site: bundle.site)
            while let batch = try bundle.nextBatch() {
                let applier: HubTableApplier
                do {
                    applier = try HubTableApplier(
                        incoming: batch.schema, hub: tables[batch.schema.name], connection: connection,
                        versions: versions)
                } catch let problem as RowProblem {
                    try batch.forEach { change in
                        guard change.originSequence > appliedThrough else { return }
                        try recorder.reject(change, schema: batch.schema, reason: problem.reason, correct: false)
                        report.rejected += 1
                    }
                    continue
                }
                try ingest(
                    batch, applier: applier, site: bundle.site, appliedThrough: appliedThrough,
                    recorder: recorder, report: &report)
            }
            try connection.run("UPDATE _fieldsync_counter SET version = ? WHERE id = 1", [.integer(versions.last)])
            try connection.run("DELETE FROM _fieldsync_applying")
            if let text = bundle.properties[SyncProperty.changesThrough], let through = Int64(text) {
                appliedThrough = max(appliedThrough, through)
            }
            try connection.run(
                "UPDATE _fieldsync_sites SET last_sequence = ?, last_bundle = ?, applied_through = ?, "
                    + "acked_hub_version = max(acked_hub_version, ?), acked_return = max(acked_return, ?), "
                    + "last_received_at = ? WHERE site_id = ?",
                [
                    .integer(Int64(bundle.sequence)), .text(bundle.bundleID), .integer(appliedThrough),
                    .integer(bundle.prerequisites[SyncProperty.hubVersion] ?? 0),
                    .integer(bundle.prerequisites[SyncProperty.acknowledgedReturn] ?? 0), .text(nowText()),
                    .text(bundle.site),
                ])
            try connection.run(
                "INSERT INTO _fieldsync_bundles (bundle_id, site_id, sequence, direction, status, rows, conflicts, "
                    + "rejected, at) VALUES (?, ?, ?, 'in', 'applied', ?, ?, ?, ?)",
                [
                    .text(bundle.bundleID), .text(bundle.site), .integer(Int64(bundle.sequence)),
                    .integer(Int64(report.applied)), .integer(Int64(report.conflicts)),
                    .integer(Int64(report.rejected)), .text(nowText()),
                ])
            try log(
                site: bundle.site, operation: "ingest", rows: report.applied, milliseconds: elapsed(since: started),
                status: report.logStatus, message: report.logMessage)
            if report.conflicts > 0 {
                try log(
                    site: bundle.site, operation: "ingest", rows: report.conflicts,
                    milliseconds: 0, status: "conflict",
                    message: "\(report.conflicts) conflicts in bundle \(bundle.bundleID)")
            }
            return report
        }
    }

    /// Applies the changes of one batch (``BatchIngest``).
    private func ingest(
        _ batch: any ChangeBatchSource, applier: HubTableApplier, site: String, appliedThrough: Int64,
        recorder: OutcomeRecorder, report: inout IngestReport
    ) throws {
        try BatchIngest.run(
            batch, site: site, appliedThrough: appliedThrough, report: &report,
            apply: { change, _, report in try applier.ingest(change, recorder: recorder, report: &report) },
            reject: { change, reason in try recorder.reject(change, schema: batch.schema, reason: reason) })
    }

    func elapsed(since start: DispatchTime) -> Int {
        Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
    }
}

/// Hands out hub versions during one ingest; written back to `_fieldsync_counter` before commit.
final class VersionAllocator {
    var last: Int64
    let site: String
    let now = nowText()

    init(last: Int64, site: String) {
        self.last = last
        self.site = site
    }

    func next() -> Int64 {
        last += 1
        return last
    }
}

/// Why a whole batch cannot be applied (unknown table, unknown column); each of its rows is set aside.
struct RowProblem: Error {
    var reason: String
}

/// Records conflicts and set-aside rows at the hub.
final class OutcomeRecorder {
    private let connection: SQLiteConnection
    private let site: String
    private let bundleID: String
    private let insertConflict: SQLiteStatement
    private let insertRejected: SQLiteStatement
    private let insertResend: SQLiteStatement

    init(connection: SQLiteConnection, site: String, bundleID: String) throws {
        self.connection = connection
        self.site = site
        self.bundleID = bundleID
        insertConflict = try connection.prepare(
            "INSERT INTO _fieldsync_conflicts (site_id, tbl, pk, origin_seq, bundle_id, base_version, hub_version, "
                + "hub_origin, incoming, hub_row, rule, decision, created_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'server_wins', 'hub_kept', ?)")
        insertRejected = try connection.prepare(
            "INSERT INTO _fieldsync_rejected (site_id, tbl, pk, origin_seq, bundle_id, reason, incoming, created_at, "
                + "correct) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        insertResend = try connection.prepare(
            "INSERT INTO _fieldsync_resend (site_id, tbl, pk, created_at) VALUES (?, ?, ?, ?)")
    }

    /// The key of `change` as a JSON array, made by SQLite so it matches keys made in SQL elsewhere.
    func keyJSON(_ change: Change, schema: TableSchema) throws -> String {
        let keys = schema.primaryKeyIndexes.map { change.values[$0] }
        let sql = "SELECT json_array(" + Array(repeating: "?", count: keys.count).joined(separator: ", ") + ")"
        return try connection.scalar(sql, keys)?.textValue ?? "[]"
    }

    func conflict(_ change: Change, schema: TableSchema, hub: HubRowState) throws {
        try insertConflict.bind([
            .text(site), .text(schema.name), .text(try keyJSON(change, schema: schema)),
            .integer(change.originSequence), .text(bundleID), .integer(change.baseVersion), .integer(hub.version),
            hub.origin.map(Value.text) ?? .null, .text(Self.rowJSON(change, schema: schema)),
            .text(Value.jsonArray(hub.deleted ? [] : hub.values)), .text(nowText()),
        ])
        while try insertConflict.step() {}
    }

    /// Sets a change aside. With `correct`, the site is sent the hub's state of the row; without, it keeps its own.
    func reject(_ change: Change, schema: TableSchema, reason: String, correct: Bool = true) throws {
        try insertRejected.bind([
            .text(site), .text(schema.name), .text(try keyJSON(change, schema: schema)),
            .integer(change.originSequence), .text(bundleID), .text(reason),
            .text(Self.rowJSON(change, schema: schema)), .text(nowText()), .integer(correct ? 1 : 0),
        ])
        while try insertRejected.step() {}
    }

    /// Notes that the site's row may be older than the hub's in columns its change did not touch.
    func resend(_ change: Change, schema: TableSchema) throws {
        try insertResend.bind([
            .text(site), .text(schema.name), .text(try keyJSON(change, schema: schema)), .text(nowText()),
        ])
        while try insertResend.step() {}
    }

    /// `{"op": "U", "values": {...}}` for a stored change.
    static func rowJSON(_ change: Change, schema: TableSchema) -> String {
        let fields = zip(schema.columns, change.values).map { "\(Value.jsonString($0.name)):\($1.jsonText)" }
        return "{\"op\":\"\(change.operation.rawValue)\",\"values\":{\(fields.joined(separator: ","))}}"
    }
}

/// Applies one table's incoming changes at the hub: maps the site's columns onto the hub's by name, judges each
/// change against the hub's row and writes it inside a savepoint so a constraint failure sets only that row aside.
final class HubTableApplier {
    /// The hub's columns that the incoming batch carries, in hub order, with the hub's primary key.
    let schema: TableSchema
    let incoming: TableSchema
    private let mapping: [Int]
    private let connection: SQLiteConnection
    private let lookup: SQLiteStatement
    private let upsert: SQLiteStatement
    private let tombstone: SQLiteStatement
    private let versions: VersionAllocator

    init(incoming: TableSchema, hub: TableSchema?, connection: SQLiteConnection, versions: VersionAllocator) throws {
        guard let hub else {
            throw RowProblem(reason: "table '\(incoming.name)' is not synced by this hub")
        }
        for column in incoming.columns where hub.columnIndex(named: column.name) == nil {
            throw RowProblem(reason: "column '\(column.name)' of table '\(incoming.name)' is unknown at the hub")
        }
        for key in hub.primaryKey where incoming.columnIndex(named: key) == nil {
            throw RowProblem(reason: "the site's table '\(incoming.name)' lacks the primary-key column '\(key)'")
        }
        let shared = hub.columns.filter { incoming.columnIndex(named: $0.name) != nil }
        let schema = try TableSchema(name: hub.name, columns: shared, primaryKey: hub.primaryKey)
        self.schema = schema
        self.incoming = incoming
        self.connection = connection
        self.versions = versions
        mapping = shared.map { incoming.columnIndex(named: $0.name)! }
        let table = Identifier.quoted(hub.name)
        let keyMatch = schema.primaryKey.enumerated().map { "\(Identifier.quoted($1)) = ?\($0 + 1)" }
            .joined(separator: " AND ")
        lookup = try connection.prepare(
            "SELECT \(SQLText.columnList(schema)), sync_version, sync_origin_client, sync_deleted FROM \(table) "
                + "WHERE \(keyMatch)")
        let columns = SQLText.columnList(schema)
        let placeholders = Array(repeating: "?", count: schema.columns.count).joined(separator: ", ")
        let stamps = ["sync_version", "sync_modified_at", "sync_origin_client", "sync_deleted"]
        let updates = (schema.columns.map(\.name).filter { !schema.primaryKey.contains($0) } + stamps)
            .map { "\(Identifier.quoted($0)) = excluded.\(Identifier.quoted($0))" }
        upsert = try connection.prepare(
            "INSERT INTO \(table) (\(columns), sync_version, sync_modified_at, sync_origin_client, sync_deleted) "
                + "VALUES (\(placeholders), ?, ?, ?, 0) ON CONFLICT "
                + "(\(schema.primaryKey.map(Identifier.quoted).joined(separator: ", "))) DO UPDATE SET "
                + updates.joined(separator: ", "))
        let keyCount = schema.primaryKey.count
        tombstone = try connection.prepare(
            "UPDATE \(table) SET sync_deleted = 1, sync_version = ?\(keyCount + 1), sync_modified_at = ?\(keyCount + 2), "
                + "sync_origin_client = ?\(keyCount + 3) WHERE \(keyMatch)")
    }

    /// The hub's current row for `key` (values in this applier's column order).
    func current(key: [Value]) throws -> HubRowState? {
        try lookup.bind(key)
        defer { lookup.reset() }
        guard try lookup.step() else { return nil }
        let count = schema.columns.count
        let row = lookup.row()
        return HubRowState(
            values: Array(row[0..<count]), version: row[count].integerValue ?? 0, origin: row[count + 1].textValue,
            deleted: row[count + 2].integerValue == 1)
    }

    /// Judges and applies one change, counting the result in `report`.
    ///
    /// A write that breaks a constraint is undone by SQLite on its own (the statement aborts, the transaction
    /// goes on), so no savepoint is needed: the reason is returned and the caller retries the row later.
    ///
    /// - Returns: why the change could not be written, or `nil`.
    func ingest(_ change: Change, recorder: OutcomeRecorder, report: inout IngestReport) throws
        -> String?
    {
        let local = change.projected(onto: mapping)
        let key = schema.primaryKeyIndexes.map { local.values[$0] }
        let hub = try current(key: key)
        switch ConflictJudge.action(for: local, hub: hub, schema: schema) {
        case .unchanged(let resend):
            report.unchanged += 1
            if resend { try recorder.resend(local, schema: schema) }
        case .conflict:
            try recorder.conflict(local, schema: schema, hub: hub!)
            report.conflicts += 1
        case .apply:
            do {
                try write(local, key: key)
                report.applied += 1
            } catch let error as StoreError where error.code == .constraint {
                return error.message
            }
        }
        return nil
    }

    /// Writes the row (or its tombstone), stamped with the next hub version and the sending site.
    private func write(_ change: Change, key: [Value]) throws {
        let stamp: [Value] = [.integer(versions.next()), .text(versions.now), .text(versions.site)]
        if change.operation == .delete {
            try tombstone.bind(key + stamp)
            while try tombstone.step() {}
        } else {
            try upsert.bind(change.values + stamp)
            while try upsert.step() {}
        }
    }
}
