import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// Recorded conflicts from `sync_control.conflicts`, oldest first.
    public func conflicts(_ filter: ConflictFilter) throws -> [ConflictRecord] {
        try connection.query(
            "SELECT \(Self.conflictColumns) FROM sync_control.conflicts WHERE ($1::text IS NULL OR client_id = $1) "
                + "AND ($2::text IS NULL OR table_name = $2) AND (NOT $3::boolean OR decision = 'pending') ORDER BY id",
            [filter.site, filter.table, filter.pendingOnly ? "t" : "f"]
        ).rows.map(Self.conflictRecord)
    }

    /// One conflict, with the hub's current row.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for an unknown id.
    public func conflict(id: Int64) throws -> ConflictRecord {
        guard
            let row = try connection.query(
                "SELECT \(Self.conflictColumns) FROM sync_control.conflicts WHERE id = $1", [String(id)]
            ).rows.first
        else {
            throw StoreError(.notFound, "there is no conflict \(id)", location: connection.location)
        }
        var record = Self.conflictRecord(row)
        if let schema = try tables().first(where: { $0.name == record.table }),
            let hub = try hubRow(schema: schema, key: record.key, lock: false), !hub.deleted
        {
            record.current = Self.reordered(hub.values, from: schema, to: record.columns)
        }
        return record
    }

    static let conflictColumns =
        "id, client_id, table_name, pk, origin_seq, bundle_id, base_version, hub_version, hub_origin, rule, "
        + "decision, contested::text, created_at, resolved_at, incoming::text, hub_row::text, base_row::text, "
        + "site_time, hub_time"

    static func conflictRecord(_ row: [String?]) -> ConflictRecord {
        let incoming = row[14].flatMap(RowJSON.decode)
        let columns = incoming?.values.map(\.name) ?? []
        func decode(_ text: String?) -> (operation: Change.Operation, values: [Value])? {
            guard let decoded = text.flatMap(RowJSON.decode) else { return nil }
            return (decoded.operation, RowJSON.values(decoded.values, in: columns))
        }
        let hub = decode(row[15])
        let contested = row[11].flatMap(Value.arrayFromJSON)?.compactMap { value -> String? in
            if case .text(let name) = value { name } else { nil }
        }
        return ConflictRecord(
            id: Int64(row[0] ?? "") ?? 0, site: row[1] ?? "", table: row[2] ?? "", key: row[3] ?? "[]",
            originSequence: Int64(row[4] ?? "") ?? 0, bundleID: row[5] ?? "",
            baseVersion: Int64(row[6] ?? "") ?? 0, hubVersion: Int64(row[7] ?? "") ?? 0, hubOrigin: row[8],
            rule: row[9].flatMap(ConflictStrategy.init(rawValue:)) ?? .serverWins,
            decision: row[10].flatMap(ConflictDecision.init(rawValue:)) ?? .hubKept, contested: contested ?? [],
            createdAt: rfc3339(row[12]) ?? "", resolvedAt: rfc3339(row[13]), columns: columns,
            incoming: incoming?.values.map(\.value) ?? [], incomingOperation: incoming?.operation ?? .update,
            hubRow: hub.flatMap { $0.operation == .delete ? nil : $0.values }, base: decode(row[16])?.values,
            siteTime: row[17], hubTime: row[18])
    }

    /// `values` in `schema`'s column order, rearranged into `columns` (a column the schema lacks is NULL).
    static func reordered(_ values: [Value], from schema: TableSchema, to columns: [String]) -> [Value] {
        columns.map { name in schema.columnIndex(named: name).map { values[$0] } ?? .null }
    }

    /// The hub's row for a key given as a JSON array, over every column of `schema`; `nil` if the hub never had it.
    func hubRow(schema: TableSchema, key: String, lock: Bool) throws -> HubRowState? {
        guard let keyValues = Value.arrayFromJSON(key), keyValues.count == schema.primaryKey.count else {
            return nil
        }
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let keyMatch = schema.primaryKey.enumerated().map { "\(Identifier.quoted($1)) = $\($0 + 1)" }
            .joined(separator: " AND ")
        guard
            let row = try connection.query(
                "SELECT \(columns), sync_version, sync_origin_client, sync_deleted, "
                    + "extract(epoch FROM sync_modified_at) FROM \(qualified(schema.name)) WHERE \(keyMatch)"
                    + (lock ? " FOR UPDATE" : ""), keyValues.map(PostgresTypes.parameter)
            ).rows.first
        else { return nil }
        let count = schema.columns.count
        return HubRowState(
            values: schema.columns.indices.map { PostgresTypes.value(row[$0], type: schema.columns[$0].type) },
            version: Int64(row[count] ?? "0") ?? 0, origin: row[count + 1], deleted: row[count + 2] == "t",
            modifiedAt: row[count + 3].flatMap { Double($0) })
    }

    // MARK: Resolving

    /// Decides a pending conflict in one transaction: the decided row is written as a change made at the hub
    /// (origin NULL, a new version, so every site in scope receives it, the one that sent the change too) unless
    /// it is the hub's row already; the conflict becomes `resolved_site`, `resolved_hub` or `resolved_merged`
    /// with the decided row, its notifications `resolved`, and its outcome is queued for the site.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for an unknown conflict, `.invalidState` if a person decided it already,
    ///   `.schema` for a `set` the table cannot take, `.constraint` if the decided row breaks a constraint.
    @discardableResult
    public func resolveConflict(_ resolution: ConflictResolution) throws -> ConflictRecord {
        try connection.withTransaction {
            guard
                let row = try connection.query(
                    "SELECT \(Self.conflictColumns) FROM sync_control.conflicts WHERE id = $1 FOR UPDATE",
                    [String(resolution.id)]
                ).rows.first
            else {
                throw StoreError(.notFound, "there is no conflict \(resolution.id)", location: connection.location)
            }
            let record = Self.conflictRecord(row)
            guard !record.decision.isResolved else {
                throw StoreError(
                    .invalidState,
                    "conflict \(resolution.id) was already decided by a person (\(record.decision.rawValue) at \(record.resolvedAt ?? "?"))"
                )
            }
            guard let schema = try tables().first(where: { $0.name == record.table }) else {
                throw StoreError(
                    .notFound, "table '\(record.table)' is not synced by this hub", location: connection.location)
            }
            // Written as a hub change: no site is being applied in this transaction.
            try connection.run("SELECT set_config('fieldsync.applying', '', true)")
            let hub = try hubRow(schema: schema, key: record.key, lock: true)
            let decided = try resolution.decidedRow(
                for: record, schema: schema, current: hub.map { ($0.values, $0.deleted) })
            let unchanged =
                hub.map { hub in
                    hub.deleted == decided.deleted
                        && zip(hub.values, decided.values).allSatisfy { $0.isSameValue(as: $1) }
                } ?? false
            if !unchanged {
                try writeAtHub(decided.values, deleted: decided.deleted, schema: schema, exists: hub != nil)
            }
            let decision = resolution.take.decision
            try connection.run(
                "UPDATE sync_control.conflicts SET decision = $2, resolved_at = now(), resolution = $3, "
                    + "resolved_return_sequence = NULL WHERE id = $1",
                [
                    String(resolution.id), decision.rawValue,
                    RowJSON.encode(
                        operation: decided.deleted ? .delete : .update, columns: schema.columns.map(\.name),
                        values: decided.values),
                ])
            try connection.run(
                "UPDATE sync_control.conflict_notifications SET status = 'resolved', resolved_at = now() "
                    + "WHERE conflict_id = $1 AND status IS DISTINCT FROM 'resolved'", [String(resolution.id)])
            try log(
                site: record.site, operation: "resolve", table: record.table, rows: 1, milliseconds: 0, status: "ok",
                message: "conflict \(record.id) on table \(record.table) resolved: \(decision.rawValue)")
            return try conflict(id: resolution.id)
        }
    }

    /// Writes a row as a change made at the hub (the trigger stamps origin NULL and now()).
    private func writeAtHub(_ values: [Value], deleted: Bool, schema: TableSchema, exists: Bool) throws {
        let table = qualified(schema.name)
        let keys = schema.primaryKeyIndexes
        let keyMatch = keys.map { "\(Identifier.quoted(schema.columns[$0].name)) = $\($0 + 1)" }
            .joined(separator: " AND ")
        let parameters = values.map(PostgresTypes.parameter)
        if exists {
            let sets =
                schema.columns.indices.filter { !keys.contains($0) }
                .map { "\(Identifier.quoted(schema.columns[$0].name)) = $\($0 + 1)" }
                + ["sync_deleted = $\(values.count + 1)"]
            try connection.run(
                "UPDATE \(table) SET \(sets.joined(separator: ", ")) WHERE \(keyMatch)",
                parameters + [deleted ? "t" : "f"])
        } else {
            let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
            let placeholders = values.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
            try connection.run(
                "INSERT INTO \(table) (\(columns), sync_deleted) VALUES (\(placeholders), $\(values.count + 1))",
                parameters + [deleted ? "t" : "f"])
        }
    }
}
