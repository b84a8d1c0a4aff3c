import FieldSyncCore

/// Applies one table's incoming changes at the hub: maps the site's columns onto the hub's by name, locks and
/// judges the hub's row, settles conflicts by the table's rule, and writes the change (the version trigger stamps
/// it).
final class PostgresTableApplier {
    let schema: TableSchema
    /// The table's conflict rule, read once for the batch.
    let rule: ConflictRule
    private let mapping: [Int]
    private let store: PostgresHubStore
    private let editTimeOf: (Change) -> Double
    private let lookup: PostgresStatement
    private let insert: PostgresStatement
    private let update: PostgresStatement
    private let tombstone: PostgresStatement
    /// The row at a given version in the table's history (field_merge tables only).
    private let baseLookup: PostgresStatement?
    private let history: String?

    /// - Parameter editTime: a change's edit time on the hub's clock (seconds since 1970), written to
    ///   `sync_modified_at` and compared by `last_write_wins`.
    init(
        incoming: TableSchema, hub: TableSchema?, store: PostgresHubStore,
        editTime: @escaping (Change) -> Double
    ) throws {
        guard let hub else {
            throw PostgresRowProblem(reason: "table '\(incoming.name)' is not synced by this hub")
        }
        for column in incoming.columns where hub.columnIndex(named: column.name) == nil {
            throw PostgresRowProblem(
                reason: "column '\(column.name)' of table '\(incoming.name)' is unknown at the hub")
        }
        for key in hub.primaryKey where incoming.columnIndex(named: key) == nil {
            throw PostgresRowProblem(
                reason: "the site's table '\(incoming.name)' lacks the primary-key column '\(key)'")
        }
        let shared = hub.columns.filter { incoming.columnIndex(named: $0.name) != nil }
        let schema = try TableSchema(name: hub.name, columns: shared, primaryKey: hub.primaryKey)
        self.schema = schema
        self.store = store
        editTimeOf = editTime
        rule = try store.conflictRule(for: hub.name)
        mapping = shared.map { incoming.columnIndex(named: $0.name)! }
        let table = store.qualified(hub.name)
        let keyMatch = schema.primaryKey.enumerated().map { "\(Identifier.quoted($1)) = $\($0 + 1)" }
            .joined(separator: " AND ")
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        lookup = try store.prepared(
            "SELECT \(columns), sync_version, sync_origin_client, sync_deleted, extract(epoch FROM sync_modified_at) "
                + "FROM \(table) WHERE \(keyMatch) FOR UPDATE")
        let count = schema.columns.count
        let placeholders = schema.columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
        insert = try store.prepared(
            "INSERT INTO \(table) (\(columns), sync_modified_at) VALUES (\(placeholders), "
                + "to_timestamp($\(count + 1)::double precision))")
        let keyByPosition = schema.primaryKeyIndexes.map {
            "\(Identifier.quoted(schema.columns[$0].name)) = $\($0 + 1)"
        }
        .joined(separator: " AND ")
        let sets =
            schema.columns.indices.filter { !schema.primaryKeyIndexes.contains($0) }
            .map { "\(Identifier.quoted(schema.columns[$0].name)) = $\($0 + 1)" } + [
                "sync_deleted = false", "sync_modified_at = to_timestamp($\(count + 1)::double precision)",
            ]
        update = try store.prepared("UPDATE \(table) SET \(sets.joined(separator: ", ")) WHERE \(keyByPosition)")
        let keyCount = schema.primaryKey.count
        tombstone = try store.prepared(
            "UPDATE \(table) SET sync_deleted = true, sync_modified_at = to_timestamp($\(keyCount + 1)::double "
                + "precision) WHERE \(keyMatch)")
        if rule.strategy == .fieldMerge, try store.historyExists(for: hub.name) {
            let history = PostgresHubStore.historyTable(hub.name)
            self.history = history
            baseLookup = try store.prepared(
                "SELECT \(columns), sync_version FROM \(history) WHERE \(keyMatch) AND (sync_version = $\(keyCount + 1) "
                    + "OR (sync_origin_client = $\(keyCount + 2) AND sync_version > $\(keyCount + 1))) "
                    + "AND NOT sync_deleted ORDER BY sync_version DESC, history_at DESC LIMIT 1")
        } else {
            history = nil
            baseLookup = nil
        }
    }

    /// The change's values in this applier's column order, as the hub keeps them.
    func localValues(_ change: Change) -> [Value] {
        local(change).values
    }

    /// The change projected onto this applier's columns, its values as the hub keeps them
    /// (``TableSchema/conformed(_:)``; unchanged when one cannot be kept, which ``refusal(_:)`` says).
    func local(_ change: Change) -> Change {
        let projected = change.projected(onto: mapping)
        if case .success(let conformed) = schema.conformed(projected) { return conformed }
        return projected
    }

    /// Why the hub cannot keep a value of `change` (``TableSchema/conformed(_:)``), or `nil`.
    func refusal(_ change: Change) -> String? {
        if case .failure(let refusal) = schema.conformed(change.projected(onto: mapping)) { return refusal.reason }
        return nil
    }

    /// The change's edit time on the hub's clock.
    func editTime(_ change: Change) -> Double {
        editTimeOf(change)
    }

    /// The hub's current row for `key`, locked for the rest of the transaction.
    func current(key: [Value]) throws -> HubRowState? {
        guard let row = try lookup.query(key.map(PostgresTypes.parameter)).rows.first else { return nil }
        return hubState(row)
    }

    /// A hub row as fetched: this applier's columns, then `sync_version`, `sync_origin_client`, `sync_deleted` and
    /// the epoch of `sync_modified_at`.
    func hubState(_ row: [String?]) -> HubRowState {
        let count = schema.columns.count
        return HubRowState(
            values: schema.columns.indices.map { PostgresTypes.value(row[$0], type: schema.columns[$0].type) },
            version: Int64(row[count] ?? "0") ?? 0, origin: row[count + 1], deleted: row[count + 2] == "t",
            modifiedAt: row.count > count + 3 ? row[count + 3].flatMap { Double($0) } : nil)
    }

    /// The row as `site` last had it (for field_merge): the latest of the version its edit was based on and the
    /// versions the site made itself since (from the table's history), and its own version in a conflict since
    /// (the site keeps that until the hub's row reaches it); `nil` when not known.
    func base(key: [Value], version: Int64, site: String) throws -> [Value]? {
        var image: (values: [Value], version: Int64)?
        if let baseLookup,
            let row = try baseLookup.query(key.map(PostgresTypes.parameter) + [String(version), site]).rows.first
        {
            let values = schema.columns.indices.map { PostgresTypes.value(row[$0], type: schema.columns[$0].type) }
            image = (values, Int64(row[schema.columns.count] ?? "") ?? 0)
        }
        // A conflict judged when the hub's row was at or past the site's own latest version came after it.
        if let view = try store.prepared(
            "SELECT incoming::text, hub_version FROM sync_control.conflicts WHERE client_id = $1 AND table_name = $2 "
                + "AND pk = $3 AND base_version = $4 ORDER BY id DESC LIMIT 1"
        ).query([site, schema.name, Value.jsonArray(key), String(version)]).rows.first,
            let text = view[0], (Int64(view[1] ?? "") ?? 0) >= (image?.version ?? 0)
        {
            guard let row = RowJSON.decode(text), row.operation != .delete else { return nil }
            return RowJSON.values(row.values, in: schema.columns.map(\.name))
        }
        return image?.values
    }

    /// Settles a conflict of `change` (in this applier's columns) with the hub's row by the table's rule; also
    /// returns the base row it used, if any.
    func settle(_ change: Change, hub: HubRowState, editTime: Double) throws -> (ConflictVerdict, [Value]?) {
        var base: [Value]?
        if rule.strategy == .fieldMerge {
            base = try self.base(
                key: schema.primaryKeyIndexes.map { change.values[$0] }, version: change.baseVersion,
                site: change.origin)
        }
        let verdict = ConflictResolver.settle(
            change, hub: hub, schema: schema, rule: rule, base: base, editTime: editTime)
        return (verdict, base)
    }

    /// Deletes history rows no site can still need (see ``PostgresHubStore/pruneHistory(table:)``).
    func pruneHistory() throws {
        guard let history else { return }
        try store.pruneHistory(history)
    }

    /// Judges and applies one change, counting the result in `report`; returns why it could not be written.
    func ingest(
        _ change: Change, recorder: PostgresOutcomeRecorder, rowByRow: Bool, report: inout IngestReport
    ) throws -> String? {
        if let reason = refusal(change) { return reason }
        let local = self.local(change)
        let key = schema.primaryKeyIndexes.map { local.values[$0] }
        let hub = try current(key: key)
        if ConflictJudge.hasImpossibleBase(local, hub: hub) { report.impossibleBases += 1 }
        let editTime = editTimeOf(change)
        switch ConflictJudge.action(for: local, hub: hub, schema: schema) {
        case .unchanged(let resend):
            report.unchanged += 1
            if resend { try recorder.resend(local, schema: schema) }
        case .conflict:
            let hub = hub!
            let (verdict, base) = try settle(local, hub: hub, editTime: editTime)
            if let write = verdict.write,
                let reason = try guarded(rowByRow, { try self.write(verdict: verdict, write, editTime: editTime) })
            {
                return reason
            }
            // Recorded only once its write succeeded: a row set aside is not also a conflict.
            try recorder.conflict(
                local, schema: schema, hub: hub, rule: rule, verdict: verdict, base: base, editTime: editTime)
            report.count(verdict)
        case .apply:
            if let reason = try guarded(rowByRow, { try write(local, exists: hub != nil, editTime: editTime) }) {
                return reason
            }
            report.applied += 1
        }
        return nil
    }

    /// Runs `write`, under its own savepoint when `rowByRow`; returns the constraint's message if it failed there.
    private func guarded(_ rowByRow: Bool, _ write: () throws -> Void) throws -> String? {
        guard rowByRow else {
            try write()
            return nil
        }
        do {
            try store.connection.withSavepoint("fieldsync_row") { try write() }
            return nil
        } catch let error as StoreError where error.code == .constraint {
            return error.message
        }
    }

    /// Writes what a conflict's verdict decided. A merged row is a change made at the hub (origin NULL, the
    /// hub's time): neither side had it, so it must go to every site, the sending one included, and a later edit
    /// from the sending site based on an older row must meet it as someone else's change.
    func write(verdict: ConflictVerdict, _ change: Change, editTime: Double) throws {
        guard verdict.decision == .merged else {
            return try write(change, exists: true, editTime: editTime)
        }
        let applying = try store.connection.scalar("SELECT current_setting('fieldsync.applying', true)") ?? ""
        try store.connection.run("SELECT set_config('fieldsync.applying', '', true)")
        try write(change, exists: true, editTime: editTime)
        try store.connection.run("SELECT set_config('fieldsync.applying', $1, true)", [applying])
    }

    /// Writes the row (insert when the hub never had it, so a concurrent insert of the same key fails rather
    /// than being overwritten unjudged), or its tombstone, with `editTime` as `sync_modified_at` (kept by the
    /// trigger only while a bundle is applied).
    func write(_ change: Change, exists: Bool, editTime: Double) throws {
        // Whole seconds, as the embedded store keeps them, so that both decide later last_write_wins conflicts alike.
        let time = String(editTime.rounded(.down))
        if change.operation == .delete {
            let key = schema.primaryKeyIndexes.map { change.values[$0] }
            try tombstone.run(key.map(PostgresTypes.parameter) + [time])
        } else if exists {
            try update.run(change.values.map(PostgresTypes.parameter) + [time])
        } else {
            try insert.run(change.values.map(PostgresTypes.parameter) + [time])
        }
    }
}
