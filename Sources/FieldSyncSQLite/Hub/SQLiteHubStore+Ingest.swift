import FieldSyncCore
import Foundation

extension SQLiteHubStore {
    /// Applies a site's bundle in one transaction.
    ///
    /// A bundle whose sequence is not newer than the last one applied from the site changes nothing and is reported
    /// as already applied or superseded; a gap in sequences is reported (nothing is lost: bundles are cumulative).
    /// Each change is judged against the hub's row: applied, unchanged, or a conflict, which the table's rule
    /// (read once per batch) settles and which is recorded with both versions. Rows written from the bundle carry
    /// the sending site as origin and their edit time, corrected when the bundle shows the site's clock is off
    /// (a `clock_skew` line in the log). A change that breaks a constraint is set aside with its reason and the
    /// rest of the bundle applies.
    public func ingest(_ bundle: IncomingBundle) throws -> IngestReport {
        let started = DispatchTime.now()
        return try connection.withTransaction {
            guard
                let site = try connection.query(
                    "SELECT last_sequence, last_bundle, applied_through, acked_return, acked_hub_version, "
                        + "last_return_sequence, sent_version FROM _fieldsync_sites WHERE site_id = ?",
                    [.text(bundle.site)]
                ).first
            else {
                throw StoreError(
                    .notFound, "site '\(bundle.site)' is not registered at this hub; run 'fieldsync hub add-site'",
                    location: bundle.source)
            }
            let changesThrough = try bundle.checkAcknowledgements(
                lastReturnSequence: site[5].integerValue ?? 0,
                hubVersion: try connection.integer("SELECT version FROM _fieldsync_counter WHERE id = 1"))
            let lastSequence = UInt64(clamping: site[0].integerValue ?? 0)
            var appliedThrough = site[2].integerValue ?? 0
            // The highest hub version the site can know: bases above it are made up (ConflictJudge.clampingBase).
            let baseCeiling = site[6].integerValue ?? 0
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
            let clock = try assessClock(bundle)
            if clock.isCorrected {
                report.clockOffset = clock.offset
                try log(
                    site: bundle.site, operation: "ingest", rows: 0, milliseconds: 0, status: "clock_skew",
                    message: "site '\(bundle.site)' clock is off by \(Int64(clock.offset.rounded())) seconds "
                        + "(bundle \(bundle.bundleID) says it was written at \(bundle.created)); its edit times "
                        + "are corrected by that much")
            }
            try connection.run("DELETE FROM _fieldsync_applying")
            try connection.run("INSERT INTO _fieldsync_applying (origin) VALUES (?)", [.text(bundle.site)])
            let tables = Dictionary(try tables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let recorder = try OutcomeRecorder(connection: connection, site: bundle.site, bundleID: bundle.bundleID)
            let versions = VersionAllocator(
                last: try connection.integer("SELECT version FROM _fieldsync_counter WHERE id = 1"),
                origin: bundle.site)
            while let batch = try bundle.nextBatch() {
                let applier: HubTableApplier
                do {
                    applier = try HubTableApplier(
                        incoming: batch.schema, hub: tables[batch.schema.name], connection: connection,
                        versions: versions, clock: clock, rule: try rule(for: batch.schema.name))
                } catch let problem as RowProblem {
                    try batch.forEach { incoming in
                        guard incoming.originSequence > appliedThrough else { return }
                        let (change, clamped) = ConflictJudge.clampingBase(incoming, to: baseCeiling)
                        if clamped { report.clampedBases += 1 }
                        try recorder.reject(change, schema: batch.schema, reason: problem.reason, correct: false)
                        report.rejected += 1
                    }
                    continue
                }
                try ingest(
                    batch, applier: applier, site: bundle.site, appliedThrough: appliedThrough,
                    baseCeiling: baseCeiling, recorder: recorder, report: &report)
            }
            try connection.run("UPDATE _fieldsync_counter SET version = ? WHERE id = 1", [.integer(versions.last)])
            try connection.run("DELETE FROM _fieldsync_applying")
            appliedThrough = max(appliedThrough, changesThrough)
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

    /// The site's clock as the bundle shows it: written no later than received, and no earlier than the return
    /// bundle it acknowledges was written (``SiteClock``).
    private func assessClock(_ bundle: IncomingBundle) throws -> SiteClock {
        var notBefore: Double?
        if let acknowledged = bundle.prerequisites[SyncProperty.acknowledgedReturn], acknowledged > 0,
            let written = try connection.text(
                "SELECT at FROM _fieldsync_bundles WHERE site_id = ? AND direction = 'out' AND sequence = ?",
                [.text(bundle.site), .integer(acknowledged)])
        {
            notBefore = SiteClock.parse(written)
        }
        return SiteClock.assess(created: bundle.created, received: bundle.received, notBefore: notBefore)
    }

    /// Applies the changes of one batch (``BatchIngest``).
    private func ingest(
        _ batch: any ChangeBatchSource, applier: HubTableApplier, site: String, appliedThrough: Int64,
        baseCeiling: Int64, recorder: OutcomeRecorder, report: inout IngestReport
    ) throws {
        try BatchIngest.run(
            batch, site: site, appliedThrough: appliedThrough, baseCeiling: baseCeiling, report: &report,
            refuse: { applier.refusal($0) },
            apply: { change, _, report in
                if case .failed(let reason) = try applier.apply(change, recorder: recorder, report: &report) {
                    return reason
                }
                return nil
            },
            reject: { change, reason, correct in
                try recorder.reject(change, schema: batch.schema, reason: reason, correct: correct)
            })
    }

    func elapsed(since start: DispatchTime) -> Int {
        Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
    }
}

/// Hands out hub versions during one ingest; written back to `_fieldsync_counter` before commit.
final class VersionAllocator {
    var last: Int64
    /// The origin rows are stamped with: the sending site, or `nil` for a change made at the hub (a retried row).
    let origin: String?

    init(last: Int64, origin: String?) {
        self.last = last
        self.origin = origin
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

/// Records conflicts, set-aside rows and notifications at the hub.
final class OutcomeRecorder {
    private let connection: SQLiteConnection
    private let site: String
    private let bundleID: String
    private let insertConflict: SQLiteStatement
    private let insertNotification: SQLiteStatement
    private let insertRejected: SQLiteStatement
    private let insertResend: SQLiteStatement

    init(connection: SQLiteConnection, site: String, bundleID: String) throws {
        self.connection = connection
        self.site = site
        self.bundleID = bundleID
        insertConflict = try connection.prepare(
            "INSERT INTO _fieldsync_conflicts (site_id, tbl, pk, origin_seq, bundle_id, base_version, hub_version, "
                + "hub_origin, incoming, hub_row, base_row, rule, decision, contested, site_time, hub_time, created_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        insertNotification = try connection.prepare(
            "INSERT INTO _fieldsync_conflict_notifications (table_name, record_id, client_id, details, status, "
                + "created_at, conflict_id) VALUES (?, ?, ?, ?, 'pending', ?, ?)")
        insertRejected = try connection.prepare(
            "INSERT INTO _fieldsync_rejected (site_id, tbl, pk, origin_seq, bundle_id, reason, incoming, created_at, "
                + "correct, base_version, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        insertResend = try connection.prepare(
            "INSERT INTO _fieldsync_resend (site_id, tbl, pk, created_at) VALUES (?, ?, ?, ?)")
    }

    /// The key of `change` as a JSON array, made by SQLite so it matches keys made in SQL elsewhere.
    func keyJSON(_ change: Change, schema: TableSchema) throws -> String {
        let keys = schema.primaryKeyIndexes.map { change.values[$0] }
        let sql = "SELECT json_array(" + Array(repeating: "?", count: keys.count).joined(separator: ", ") + ")"
        return try connection.scalar(sql, keys)?.textValue ?? "[]"
    }

    /// Records a settled conflict with both versions, the row the site started from (when known), the rule and
    /// what it decided; queues a notification when the rule asks for one. Returns the conflict's id.
    func conflict(
        _ change: Change, schema: TableSchema, hub: HubRowState, base: [Value]?, rule: ConflictRule,
        verdict: ConflictVerdict, editTime: Double
    ) throws -> Int64 {
        let columns = schema.columns.map(\.name)
        let key = try keyJSON(change, schema: schema)
        let timed =
            rule.strategy == .lastWriteWins || (rule.strategy == .fieldMerge && rule.fallback == .lastWriteWins)
        let now = nowText()
        try insertConflict.bind([
            .text(site), .text(schema.name), .text(key), .integer(change.originSequence), .text(bundleID),
            .integer(change.baseVersion), .integer(hub.version), hub.origin.map(Value.text) ?? .null,
            .text(RowJSON.encode(change, schema: schema)),
            .text(RowJSON.encode(operation: hub.deleted ? .delete : .update, columns: columns, values: hub.values)),
            base.map { .text(RowJSON.encode(operation: .update, columns: columns, values: $0)) } ?? .null,
            .text(rule.strategy.rawValue), .text(verdict.decision.rawValue),
            .text(Value.jsonArray(verdict.contested.map { .text(columns[$0]) })),
            timed ? .text(SiteClock.format(editTime)) : .null,
            timed ? hub.modifiedAt.map { .text(SiteClock.format($0)) } ?? .null : .null, .text(now),
        ])
        while try insertConflict.step() {}
        let id = connection.lastInsertRowID
        if rule.notify {
            let details =
                "{\"type\":\"sync_conflict\",\"conflict_id\":\(id),\"table\":\(Value.jsonString(schema.name)),"
                + "\"record_id\":\(key),\"client\":\(Value.jsonString(site)),"
                + "\"rule\":\"\(rule.strategy.rawValue)\",\"decision\":\"\(verdict.decision.rawValue)\","
                + "\"server_version\":\(hub.version),\"client_version\":\(change.baseVersion),"
                + "\"bundle_id\":\(Value.jsonString(bundleID)),\"timestamp\":\"\(now)\"}"
            try insertNotification.bind([
                .text(schema.name), .text(key), .text(site), .text(details), .text(now), .integer(id),
            ])
            while try insertNotification.step() {}
        }
        return id
    }

    /// Sets a change aside. With `correct`, the site is sent the hub's state of the row; without, it keeps its own.
    /// The change's base version and changed columns are kept, so a retry can judge it like a new arrival.
    func reject(_ change: Change, schema: TableSchema, reason: String, correct: Bool = true) throws {
        try insertRejected.bind([
            .text(site), .text(schema.name), .text(try keyJSON(change, schema: schema)),
            .integer(change.originSequence), .text(bundleID), .text(reason),
            .text(RowJSON.encode(change, schema: schema)), .text(nowText()), .integer(correct ? 1 : 0),
            .integer(change.baseVersion),
            change.changedColumns.map { .text(Value.jsonArray($0.indexes.map { .integer(Int64($0)) })) } ?? .null,
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
}

/// What one change did at the hub.
enum HubWrite: Equatable {
    case applied
    case unchanged
    /// A conflict, recorded with this id (whatever the rule decided).
    case conflict(Int64)
    /// The write broke a constraint; the reason, for a retry or the set-aside row.
    case failed(String)
}

/// Applies one table's incoming changes at the hub: maps the site's columns onto the hub's by name, judges each
/// change against the hub's row, settles conflicts by the table's rule and writes the result.
final class HubTableApplier {
    /// The hub's columns that the incoming batch carries, in hub order, with the hub's primary key.
    let schema: TableSchema
    let incoming: TableSchema
    /// The table's conflict rule, read once for the batch.
    let rule: ConflictRule
    private let mapping: [Int]
    private let connection: SQLiteConnection
    private let lookup: SQLiteStatement
    /// Earlier versions of a row, for the base image of a field merge; `nil` unless the rule is field_merge.
    private let history: SQLiteStatement?
    /// The site's own version of a row from its latest conflict on it with the same base (field_merge only): what
    /// the site still holds until the hub's row reaches it.
    private let siteView: SQLiteStatement?
    private let keyJSON: SQLiteStatement?
    private let upsert: SQLiteStatement
    private let tombstone: SQLiteStatement
    private let versions: VersionAllocator
    private let clock: SiteClock
    /// The second of the last edit time written, and its text: rows of one bundle mostly share it.
    /// For a set-aside change tried again: judged as older than anything since its base, and written with this
    /// time (the hub's, as a change made at the hub) instead of its edit time.
    var retryStamp: Double?
    private var lastSecond = Double.nan
    private var lastSecondText = ""

    init(
        incoming: TableSchema, hub: TableSchema?, connection: SQLiteConnection, versions: VersionAllocator,
        clock: SiteClock, rule: ConflictRule
    ) throws {
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
        self.clock = clock
        self.rule = rule
        mapping = shared.map { incoming.columnIndex(named: $0.name)! }
        let table = Identifier.quoted(hub.name)
        let keyMatch = schema.primaryKey.enumerated().map { "\(Identifier.quoted($1)) = ?\($0 + 1)" }
            .joined(separator: " AND ")
        lookup = try connection.prepare(
            "SELECT \(SQLText.columnList(schema)), sync_version, sync_origin_client, sync_deleted, sync_modified_at "
                + "FROM \(table) WHERE \(keyMatch)")
        if rule.strategy == .fieldMerge {
            let historyTable = Identifier.quoted(SQLiteHubStore.historyTable(hub.name))
            // A history table that lacks a column (the hub's table changed without add-table) gives no base image.
            history = try? connection.prepare(
                "SELECT \(SQLText.columnList(schema)), sync_deleted, sync_version FROM \(historyTable) WHERE \(keyMatch) "
                    + "AND (sync_version = ?\(schema.primaryKey.count + 1) OR (sync_origin_client = "
                    + "?\(schema.primaryKey.count + 2) AND sync_version > ?\(schema.primaryKey.count + 1))) "
                    + "AND sync_deleted = 0 ORDER BY sync_version DESC LIMIT 1")
            // Versions every site has moved past, kept over 30 days, are no longer anyone's base.
            _ = try? connection.run(
                "DELETE FROM \(historyTable) WHERE sync_version <= "
                    + "(SELECT coalesce(min(acked_hub_version), 0) FROM _fieldsync_sites) "
                    + "AND kept_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')")
            siteView = try connection.prepare(
                "SELECT incoming, hub_version FROM _fieldsync_conflicts WHERE site_id = ?1 AND tbl = ?2 AND pk = ?3 "
                    + "AND base_version = ?4 ORDER BY id DESC LIMIT 1")
            keyJSON = try connection.prepare(
                "SELECT json_array(" + Array(repeating: "?", count: schema.primaryKey.count).joined(separator: ", ")
                    + ")")
        } else {
            history = nil
            siteView = nil
            keyJSON = nil
        }
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

    /// Why the hub cannot keep a value of `change` (``TableSchema/conformed(_:)``), or `nil`.
    func refusal(_ change: Change) -> String? {
        if case .failure(let refusal) = schema.conformed(change.projected(onto: mapping)) { return refusal.reason }
        return nil
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
            deleted: row[count + 2].integerValue == 1, modifiedAt: row[count + 3].textValue.flatMap(SiteClock.parse))
    }

    /// Judges and applies one change, counting the result in `report`; a conflict is settled by the table's rule.
    ///
    /// A write that breaks a constraint is undone by SQLite on its own (the statement aborts, the transaction
    /// goes on), so no savepoint is needed: the reason is returned and the caller retries the row later. A
    /// conflict is recorded only once its write succeeded, so a row set aside in the end leaves no conflict.
    func apply(_ change: Change, recorder: OutcomeRecorder, report: inout IngestReport) throws -> HubWrite {
        let local: Change
        switch schema.conformed(change.projected(onto: mapping)) {
        case .success(let conformed): local = conformed
        case .failure(let refusal): return .failed(refusal.reason)
        }
        let key = schema.primaryKeyIndexes.map { local.values[$0] }
        let hub = try current(key: key)
        if ConflictJudge.hasImpossibleBase(local, hub: hub) { report.impossibleBases += 1 }
        switch ConflictJudge.action(for: local, hub: hub, schema: schema, retry: retryStamp != nil) {
        case .unchanged(let resend):
            report.unchanged += 1
            if resend { try recorder.resend(local, schema: schema) }
            return .unchanged
        case .conflict:
            return try settle(local, key: key, hub: hub!, recorder: recorder, report: &report)
        case .apply:
            do {
                try write(local, key: key, editTime: clock.editTime(local.changedAt))
                report.applied += 1
                return .applied
            } catch let error as StoreError where error.code == .constraint {
                return .failed(error.message)
            }
        }
    }

    /// Settles a conflict by the table's rule, writes what the rule decided and records the conflict.
    private func settle(
        _ change: Change, key: [Value], hub: HubRowState, recorder: OutcomeRecorder, report: inout IngestReport
    ) throws -> HubWrite {
        let editTime = clock.editTime(change.changedAt)
        let base = try baseImage(key: key, version: change.baseVersion, site: change.origin, hub: hub)
        let verdict = ConflictResolver.settle(
            change, hub: hub, schema: schema, rule: rule, base: base, editTime: editTime)
        if let write = verdict.write {
            do {
                // A merged row is a change made at the hub (no origin, the hub's time): neither side had it, so
                // it must go to every site, the sending one included, and a later edit from the sending site
                // based on an older row must meet it as someone else's change.
                let merged = verdict.decision == .merged
                try self.write(
                    write, key: key, editTime: merged ? clock.received : editTime, atHub: merged)
            } catch let error as StoreError where error.code == .constraint {
                return .failed(error.message)
            }
        }
        let id = try recorder.conflict(
            change, schema: schema, hub: hub, base: base, rule: rule, verdict: verdict, editTime: editTime)
        report.count(verdict)
        return .conflict(id)
    }

    /// The row as `site` last had it (field_merge only): the latest of the version its edit was based on, the
    /// versions the site made itself since, and its own version in a conflict since (the site keeps that until the
    /// hub's row reaches it); `nil` when no longer known.
    private func baseImage(key: [Value], version: Int64, site: String, hub: HubRowState) throws -> [Value]? {
        guard rule.strategy == .fieldMerge else { return nil }
        if hub.version == version { return hub.deleted ? nil : hub.values }
        var image: (values: [Value], version: Int64)?
        if let history {
            try history.bind(key + [.integer(version), .text(site)])
            defer { history.reset() }
            if try history.step() {
                let row = history.row()
                let count = schema.columns.count
                image = (Array(row[0..<count]), row[count + 1].integerValue ?? 0)
            }
        }
        if let siteView, let keyJSON {
            try keyJSON.bind(key)
            _ = try keyJSON.step()
            let pk = keyJSON.value(at: 0)
            keyJSON.reset()
            try siteView.bind([.text(site), .text(schema.name), pk, .integer(version)])
            defer { siteView.reset() }
            // A conflict judged when the hub's row was at or past the site's own latest version came after it.
            if try siteView.step(), let text = siteView.value(at: 0).textValue,
                (siteView.value(at: 1).integerValue ?? 0) >= (image?.version ?? 0)
            {
                guard let row = RowJSON.decode(text), row.operation != .delete else { return nil }
                return RowJSON.values(row.values, in: schema.columns.map(\.name))
            }
        }
        return image?.values
    }

    /// Writes the row (or its tombstone), stamped with the next hub version, the origin (none with `atHub`) and
    /// the edit time (to the second).
    private func write(_ change: Change, key: [Value], editTime: Double, atHub: Bool = false) throws {
        // Whole seconds, as the stamps of earlier releases: sub-second order means nothing between clocks that
        // may be minutes apart uncorrected, and the shorter text keeps as many rows in each page as before.
        let second = (retryStamp ?? editTime).rounded(.down)
        if second != lastSecond {
            lastSecond = second
            lastSecondText = SiteClock.format(second, wholeSeconds: true)
        }
        let stamp: [Value] = [
            .integer(versions.next()), .text(lastSecondText),
            atHub ? .null : versions.origin.map(Value.text) ?? .null,
        ]
        if change.operation == .delete {
            try tombstone.bind(key + stamp)
            while try tombstone.step() {}
        } else {
            try upsert.bind(change.values + stamp)
            while try upsert.step() {}
        }
    }
}
