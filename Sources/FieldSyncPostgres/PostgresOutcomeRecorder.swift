import FieldSyncCore

/// Why a whole batch cannot be applied (unknown table, unknown column); each of its rows is set aside.
struct PostgresRowProblem: Error {
    var reason: String
}

/// Records conflicts (with their notifications), set-aside rows and rows to send again in `sync_control`.
struct PostgresOutcomeRecorder {
    let store: PostgresHubStore
    let site: String
    let bundleID: String

    func keyJSON(_ change: Change, schema: TableSchema) -> String {
        Value.jsonArray(schema.primaryKeyIndexes.map { change.values[$0] })
    }

    /// Records a conflict as settled by `verdict` (already written, if it writes), and queues its notification
    /// when the table's rule asks for one. Returns the conflict's id.
    @discardableResult
    func conflict(
        _ change: Change, schema: TableSchema, hub: HubRowState, rule: ConflictRule, verdict: ConflictVerdict,
        base: [Value]?, editTime: Double
    ) throws -> Int64 {
        let key = keyJSON(change, schema: schema)
        let columns = schema.columns.map(\.name)
        let timed =
            rule.strategy == .lastWriteWins || (rule.strategy == .fieldMerge && rule.fallback == .lastWriteWins)
        let contested = "[" + verdict.contested.map { Value.jsonString(columns[$0]) }.joined(separator: ",") + "]"
        let id = try store.prepared(
            "INSERT INTO sync_control.conflicts (client_id, table_name, pk, origin_seq, bundle_id, base_version, "
                + "hub_version, hub_origin, incoming, hub_row, base_row, rule, decision, contested, site_time, "
                + "hub_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
                + "RETURNING id"
        ).query([
            site, schema.name, key, String(change.originSequence), bundleID, String(change.baseVersion),
            String(hub.version), hub.origin, RowJSON.encode(change, schema: schema),
            RowJSON.encode(operation: hub.deleted ? .delete : .update, columns: columns, values: hub.values),
            base.map { RowJSON.encode(operation: .update, columns: columns, values: $0) }, rule.strategy.rawValue,
            verdict.decision.rawValue, contested, timed ? SiteClock.format(editTime) : nil,
            timed ? hub.modifiedAt.map { SiteClock.format($0) } : nil,
        ]).rows.first?.first.flatMap { $0.flatMap { Int64($0) } }
        guard let id else { throw StoreError(.statement, "the conflict was not recorded") }
        if rule.notify {
            try store.prepared(
                "INSERT INTO sync_control.conflict_notifications (table_name, record_id, client_id, conflict_id, "
                    + "details) SELECT table_name, pk, client_id, id, json_build_object('type', 'sync_conflict', "
                    + "'conflict_id', id, 'table', table_name, 'record_id', pk::json, 'client', client_id, "
                    + "'rule', rule, 'decision', decision, 'server_version', hub_version, "
                    + "'client_version', base_version, 'bundle_id', bundle_id, 'timestamp', created_at) "
                    + "FROM sync_control.conflicts WHERE id = $1"
            ).run([String(id)])
        }
        return id
    }

    func reject(_ change: Change, schema: TableSchema, reason: String, correct: Bool = true) throws {
        let changed = change.changedColumns.map { "[" + $0.indexes.map(String.init).joined(separator: ",") + "]" }
        try store.prepared(
            "INSERT INTO sync_control.rejected_rows (client_id, table_name, pk, origin_seq, bundle_id, reason, "
                + "incoming, correct, base_version, changed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ).run([
            site, schema.name, keyJSON(change, schema: schema), String(change.originSequence), bundleID, reason,
            RowJSON.encode(change, schema: schema), correct ? "t" : "f", String(change.baseVersion), changed,
        ])
    }

    func resend(_ change: Change, schema: TableSchema) throws {
        try store.prepared(
            "INSERT INTO sync_control.resend_rows (client_id, table_name, pk) VALUES ($1, $2, $3)"
        ).run([site, schema.name, keyJSON(change, schema: schema)])
    }
}
