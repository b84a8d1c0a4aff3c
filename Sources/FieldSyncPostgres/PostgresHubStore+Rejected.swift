import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// Rows set aside (`sync_control.rejected_rows`), oldest first; by default only those still waiting.
    public func rejectedRows(site: String?, table: String?, includeApplied: Bool) throws -> [RejectedRecord] {
        try connection.query(
            "SELECT id, client_id, table_name, pk, origin_seq, bundle_id, reason, created_at, status, retried_at, "
                + "incoming::text FROM sync_control.rejected_rows WHERE ($1::text IS NULL OR client_id = $1) "
                + "AND ($2::text IS NULL OR table_name = $2) AND ($3::boolean OR status = 'set_aside') ORDER BY id",
            [site, table, includeApplied ? "t" : "f"]
        ).rows.map { row in
            let incoming = row[10].flatMap(RowJSON.decode)
            return RejectedRecord(
                id: Int64(row[0] ?? "") ?? 0, site: row[1] ?? "", table: row[2] ?? "", key: row[3] ?? "[]",
                originSequence: Int64(row[4] ?? "") ?? 0, bundleID: row[5] ?? "", reason: row[6] ?? "",
                createdAt: Self.rfc3339(row[7]) ?? "",
                status: row[8].flatMap(RejectedRecord.Status.init(rawValue:)) ?? .setAside,
                retriedAt: Self.rfc3339(row[9]), columns: incoming?.values.map(\.name) ?? [],
                incoming: incoming?.values.map(\.value) ?? [], incomingOperation: incoming?.operation ?? .update)
        }
    }

    /// Applies a set-aside row again in one transaction, judged like a new arrival from its site (a conflict is
    /// settled by the table's rule, with the time the row was set aside as its edit time). What is written is a
    /// change made at the hub (origin NULL), so the site that sent the row receives it too, having been sent the
    /// hub's row when it was set aside. The row's status becomes `applied` (or `conflict`) unless the retry failed, in which case
    /// its reason is updated; either way `attempts` and `retried_at` record the retry.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for an unknown id, `.invalidState` for a row already applied.
    public func retryRejected(id: Int64) throws -> RetryResult {
        try connection.withTransaction {
            guard
                let row = try connection.query(
                    "SELECT client_id, table_name, origin_seq, bundle_id, incoming::text, base_version, "
                        + "changed::text, status, extract(epoch FROM created_at) FROM sync_control.rejected_rows "
                        + "WHERE id = $1 FOR UPDATE", [String(id)]
                ).rows.first
            else {
                throw StoreError(.notFound, "there is no set-aside row \(id)", location: connection.location)
            }
            guard row[7] == RejectedRecord.Status.setAside.rawValue else {
                throw StoreError(
                    .invalidState,
                    "set-aside row \(id) was retried already (\(row[7] ?? "")): see 'fieldsync conflicts list'")
            }
            try connection.run("SELECT set_config('fieldsync.applying', '', true)")
            let result: RetryResult
            do {
                result = try retry(
                    site: row[0] ?? "", table: row[1] ?? "", originSequence: Int64(row[2] ?? "") ?? 0,
                    bundleID: row[3] ?? "", incoming: row[4] ?? "", baseVersion: Int64(row[5] ?? "") ?? 0,
                    changed: row[6], editTime: row[8].flatMap { Double($0) } ?? Date().timeIntervalSince1970)
            } catch let problem as PostgresRowProblem {
                result = .failed(reason: problem.reason)
            }
            if let status = result.rowStatus {
                try connection.run(
                    "UPDATE sync_control.rejected_rows SET status = $2, attempts = attempts + 1, retried_at = now() "
                        + "WHERE id = $1", [String(id), status.rawValue])
            } else if case .failed(let reason) = result {
                try connection.run(
                    "UPDATE sync_control.rejected_rows SET reason = $2, attempts = attempts + 1, retried_at = now() "
                        + "WHERE id = $1", [String(id), reason])
            }
            let failed: Bool = if case .failed = result { true } else { false }
            try log(
                site: row[0], operation: "retry", table: row[1], rows: result == .applied ? 1 : 0, milliseconds: 0,
                status: failed ? "failed" : "ok", message: "set-aside row \(id) of table \(row[1] ?? ""): \(result)")
            return result
        }
    }

    /// Judges and writes one stored change; throws ``PostgresRowProblem`` when its table or columns do not fit.
    private func retry(
        site: String, table: String, originSequence: Int64, bundleID: String, incoming: String, baseVersion: Int64,
        changed: String?, editTime: Double
    ) throws -> RetryResult {
        guard let decoded = RowJSON.decode(incoming) else {
            throw PostgresRowProblem(reason: "the stored row cannot be read")
        }
        guard let hubSchema = try tables().first(where: { $0.name == table }) else {
            throw PostgresRowProblem(reason: "table '\(table)' is not synced by this hub")
        }
        let names = decoded.values.map(\.name)
        let sent: TableSchema
        do {
            sent = try TableSchema(
                name: table,
                columns: names.map { name in
                    // A column the hub lacks stays in, so that the applier names it as unknown at the hub.
                    hubSchema.columnIndex(named: name).map { hubSchema.columns[$0] } ?? Column(name: name, type: .text)
                },
                primaryKey: hubSchema.primaryKey.filter(names.contains))
        } catch {
            throw PostgresRowProblem(reason: "the stored row does not fit table '\(table)': \(error.message)")
        }
        let changedColumns = changed.flatMap(Value.arrayFromJSON).map { values in
            ColumnSet(values.compactMap { if case .integer(let index) = $0 { Int(index) } else { nil } })
        }
        let change = Change(
            operation: decoded.operation, origin: site, originSequence: originSequence, baseVersion: baseVersion,
            changedColumns: changedColumns, values: decoded.values.map(\.value))
        let applier = try PostgresTableApplier(incoming: sent, hub: hubSchema, store: self, editTime: { _ in editTime })
        if let reason = applier.refusal(change) { return .failed(reason: reason) }
        let local = applier.local(change)
        let hub = try applier.current(key: applier.schema.primaryKeyIndexes.map { local.values[$0] })
        func attempt(_ write: Change, exists: Bool) throws -> String? {
            do {
                try connection.withSavepoint("fieldsync_retry") {
                    try applier.write(write, exists: exists, editTime: editTime)
                }
                return nil
            } catch let error as StoreError where error.code == .constraint {
                return error.message
            }
        }
        // Older than anything since its base, even a later change from its own site.
        switch ConflictJudge.action(for: local, hub: hub, schema: applier.schema, retry: true) {
        case .unchanged:
            return .unchanged
        case .apply:
            if let reason = try attempt(local, exists: hub != nil) { return .failed(reason: reason) }
            return .applied
        case .conflict:
            let hub = hub!
            let (verdict, base) = try applier.settle(local, hub: hub, editTime: editTime)
            if let write = verdict.write, let reason = try attempt(write, exists: true) {
                return .failed(reason: reason)
            }
            let recorder = PostgresOutcomeRecorder(store: self, site: site, bundleID: bundleID)
            let id = try recorder.conflict(
                local, schema: applier.schema, hub: hub, rule: applier.rule, verdict: verdict, base: base,
                editTime: editTime)
            return .conflict(id: id)
        }
    }
}
