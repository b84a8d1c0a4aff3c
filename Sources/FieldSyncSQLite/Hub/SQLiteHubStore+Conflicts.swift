import FieldSyncCore
import Foundation

// Conflict rules, recorded conflicts and their resolution, and conflict notifications.
extension SQLiteHubStore {
    // MARK: Rules

    public func conflictRules() throws -> [ConflictRule] {
        try tables().map { try rule(for: $0.name) }
    }

    /// The rule of `table`: its row in `_fieldsync_conflict_rules`, or the default.
    func rule(for table: String) throws -> ConflictRule {
        guard
            let row = try connection.query(
                "SELECT resolution_strategy, merge_fallback, merge_fields, notify_on_conflict "
                    + "FROM _fieldsync_conflict_rules WHERE table_name = ?", [.text(table)]
            ).first
        else { return .default(for: table) }
        var fields: [String]?
        if let text = row[2].textValue, let values = Value.arrayFromJSON(text) {
            fields = values.compactMap(\.textValue)
        }
        return ConflictRule(
            table: table, strategy: ConflictStrategy(rawValue: row[0].textValue ?? "") ?? .serverWins,
            fallback: ConflictStrategy(rawValue: row[1].textValue ?? "") ?? .serverWins, mergeFields: fields,
            notify: row[3].integerValue == 1)
    }

    public func setConflictRule(_ rule: ConflictRule) throws {
        try connection.withTransaction {
            guard let schema = try tables().first(where: { $0.name == rule.table }) else {
                throw StoreError(
                    .notFound, "table '\(rule.table)' is not synced by this hub", location: connection.path)
            }
            let rule = try rule.validated(against: schema)
            try connection.run(
                "INSERT INTO _fieldsync_conflict_rules (table_name, detection_method, resolution_strategy, "
                    + "priority_field, merge_fields, notify_on_conflict, merge_fallback) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    + "ON CONFLICT (table_name) DO UPDATE SET detection_method = excluded.detection_method, "
                    + "resolution_strategy = excluded.resolution_strategy, priority_field = excluded.priority_field, "
                    + "merge_fields = excluded.merge_fields, notify_on_conflict = excluded.notify_on_conflict, "
                    + "merge_fallback = excluded.merge_fallback",
                [
                    .text(rule.table), .text(rule.detectionMethod), .text(rule.strategy.rawValue),
                    rule.priorityField.map(Value.text) ?? .null,
                    rule.mergeFields.map { .text(Value.jsonArray($0.map(Value.text))) } ?? .null,
                    .integer(rule.notify ? 1 : 0), .text(rule.fallback.rawValue),
                ])
            if rule.strategy == .fieldMerge {
                try installHistory(for: schema)
            } else {
                try dropHistory(for: schema.name)
            }
        }
    }

    // MARK: History of field_merge tables

    /// The history table that keeps earlier versions of `table`'s rows (base images for field_merge).
    static func historyTable(_ table: String) -> String { "_fieldsync_history_\(table)" }

    /// Creates (or completes) the history table of `schema`'s table and the trigger that fills it.
    ///
    /// The trigger runs before every update of a row that changes its version, a value or the tombstone flag, and
    /// keeps the row as it was: staff edits (before the version trigger stamps them) and ingest writes alike. The
    /// nested update by which the version trigger stamps a staff edit finds the version already kept and is ignored.
    func installHistory(for schema: TableSchema) throws {
        let history = Identifier.quoted(Self.historyTable(schema.name))
        let declared = try connection.query(
            "SELECT name, type FROM pragma_table_info(?)", [.text(schema.name)]
        ).reduce(into: [String: String]()) { $0[$1[0].textValue ?? ""] = $1[1].textValue ?? "" }
        let definitions = schema.columns.map { column in
            let type = declared[column.name] ?? ""
            return type.isEmpty ? Identifier.quoted(column.name) : "\(Identifier.quoted(column.name)) \(type)"
        }
        let key = (schema.primaryKey.map(Identifier.quoted) + ["sync_version"]).joined(separator: ", ")
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS \(history) (\(definitions.joined(separator: ", ")), "
                + "sync_version INTEGER NOT NULL, sync_deleted INTEGER NOT NULL, sync_origin_client TEXT, "
                + "kept_at TEXT NOT NULL, PRIMARY KEY (\(key)))")
        let present = try connection.query(
            "SELECT name FROM pragma_table_info(?)", [.text(Self.historyTable(schema.name))]
        ).compactMap { $0.first?.textValue }
        for (column, definition) in zip(schema.columns, definitions) where !present.contains(column.name) {
            try connection.execute("ALTER TABLE \(history) ADD COLUMN \(definition)")
        }
        if !present.contains("sync_origin_client") {
            try connection.execute("ALTER TABLE \(history) ADD COLUMN sync_origin_client TEXT")
        }
        try connection.execute(
            "CREATE INDEX IF NOT EXISTS \(Identifier.quoted(Self.historyTable(schema.name) + "_kept")) "
                + "ON \(history) (kept_at)")
        let trigger = Identifier.quoted("_fieldsync_\(schema.name)_history")
        let columns = SQLText.columnList(schema)
        let oldValues = SQLText.columnList(schema, prefix: "OLD.")
        try connection.execute(
            """
            DROP TRIGGER IF EXISTS \(trigger);
            CREATE TRIGGER \(trigger) BEFORE UPDATE ON \(Identifier.quoted(schema.name))
            WHEN OLD.sync_version IS NOT NEW.sync_version OR \(SQLText.anyChanged(schema.columns.map(\.name) + ["sync_deleted"]))
            BEGIN
                INSERT OR IGNORE INTO \(history) (\(columns), sync_version, sync_deleted, sync_origin_client, kept_at)
                VALUES (\(oldValues), OLD.sync_version, OLD.sync_deleted, OLD.sync_origin_client,
                        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
            END;
            """)
    }

    /// Drops the history of `table` and its trigger (the rule is no longer field_merge).
    func dropHistory(for table: String) throws {
        try connection.execute(
            "DROP TRIGGER IF EXISTS \(Identifier.quoted("_fieldsync_\(table)_history")); "
                + "DROP TABLE IF EXISTS \(Identifier.quoted(Self.historyTable(table)))")
    }

    // MARK: Conflicts

    static let conflictColumns =
        "id, site_id, tbl, pk, origin_seq, bundle_id, base_version, hub_version, hub_origin, incoming, hub_row, "
        + "base_row, rule, decision, contested, created_at, resolved_at, site_time, hub_time"

    public func conflicts(_ filter: ConflictFilter) throws -> [ConflictRecord] {
        try connection.query(
            "SELECT \(Self.conflictColumns) FROM _fieldsync_conflicts WHERE (?1 IS NULL OR site_id = ?1) "
                + "AND (?2 IS NULL OR tbl = ?2) AND (?3 = 0 OR decision = 'pending') ORDER BY id",
            [
                filter.site.map(Value.text) ?? .null, filter.table.map(Value.text) ?? .null,
                .integer(filter.pendingOnly ? 1 : 0),
            ]
        ).map(Self.conflictRecord(from:))
    }

    public func conflict(id: Int64) throws -> ConflictRecord {
        guard
            let row = try connection.query(
                "SELECT \(Self.conflictColumns) FROM _fieldsync_conflicts WHERE id = ?", [.integer(id)]
            ).first
        else {
            throw StoreError(.notFound, "there is no conflict \(id) at this hub", location: connection.path)
        }
        var record = Self.conflictRecord(from: row)
        if let schema = try tables().first(where: { $0.name == record.table }),
            let current = try currentRow(schema, key: record.key), !current.deleted
        {
            record.current = record.columns.map { name in
                schema.columnIndex(named: name).map { current.values[$0] } ?? .null
            }
        }
        return record
    }

    /// A conflict row (``conflictColumns``) as a record; rows are given over the columns the site's change carried.
    static func conflictRecord(from row: [Value]) -> ConflictRecord {
        let incoming = RowJSON.decode(row[9].textValue ?? "")
        let columns = incoming?.values.map(\.name) ?? []
        func image(_ value: Value) -> [Value]? {
            guard let text = value.textValue else { return nil }
            if text.hasPrefix("[") {
                // Stores of earlier releases kept the hub's row as an array in column order, `[]` for a tombstone.
                guard let values = Value.arrayFromJSON(text), !values.isEmpty else { return nil }
                return values
            }
            guard let decoded = RowJSON.decode(text), decoded.operation != .delete else { return nil }
            return RowJSON.values(decoded.values, in: columns)
        }
        let contested = row[14].textValue.flatMap(Value.arrayFromJSON)?.compactMap(\.textValue) ?? []
        return ConflictRecord(
            id: row[0].integerValue ?? 0, site: row[1].textValue ?? "", table: row[2].textValue ?? "",
            key: row[3].textValue ?? "[]", originSequence: row[4].integerValue ?? 0,
            bundleID: row[5].textValue ?? "", baseVersion: row[6].integerValue ?? 0,
            hubVersion: row[7].integerValue ?? 0, hubOrigin: row[8].textValue,
            rule: ConflictStrategy(rawValue: row[12].textValue ?? "") ?? .serverWins,
            decision: ConflictDecision(rawValue: row[13].textValue ?? "") ?? .hubKept, contested: contested,
            createdAt: row[15].textValue ?? "", resolvedAt: row[16].textValue, columns: columns,
            incoming: incoming?.values.map(\.value) ?? [], incomingOperation: incoming?.operation ?? .update,
            hubRow: image(row[10]), base: image(row[11]), siteTime: row[17].textValue, hubTime: row[18].textValue)
    }

    /// The hub's row for the key JSON `key` over every column of `schema`, or `nil` if it has none.
    func currentRow(_ schema: TableSchema, key: String) throws -> (values: [Value], deleted: Bool)? {
        guard
            let row = try connection.query(
                "SELECT \(SQLText.columnList(schema)), sync_deleted FROM \(Identifier.quoted(schema.name)) "
                    + "WHERE \(SQLText.keyMatch(schema, parameter: 1))", [.text(key)]
            ).first
        else { return nil }
        return (Array(row.dropLast()), row.last?.integerValue == 1)
    }

    @discardableResult
    public func resolveConflict(_ resolution: ConflictResolution) throws -> ConflictRecord {
        try connection.withTransaction {
            let record = try conflict(id: resolution.id)
            guard !record.decision.isResolved else {
                throw StoreError(
                    .invalidState,
                    "conflict \(record.id) was already decided by a person (\(record.decision.rawValue) at \(record.resolvedAt ?? "?"))",
                    location: connection.path)
            }
            guard let schema = try tables().first(where: { $0.name == record.table }) else {
                throw StoreError(
                    .notFound, "table '\(record.table)' is not synced by this hub", location: connection.path)
            }
            let current = try currentRow(schema, key: record.key)
            let decided = try resolution.decidedRow(for: record, schema: schema, current: current)
            try writeAtHub(decided, schema: schema, current: current)
            let decision = resolution.take.decision
            let now = nowText()
            try connection.run(
                "UPDATE _fieldsync_conflicts SET decision = ?, resolved_at = ?, resolution = ? WHERE id = ?",
                [
                    .text(decision.rawValue), .text(now),
                    .text(
                        RowJSON.encode(
                            operation: decided.deleted ? .delete : .update, columns: schema.columns.map(\.name),
                            values: decided.values)),
                    .integer(record.id),
                ])
            try connection.run(
                "UPDATE _fieldsync_conflict_notifications SET status = 'resolved', resolved_at = ? "
                    + "WHERE conflict_id = ? AND status = 'pending'", [.text(now), .integer(record.id)])
            try log(
                site: record.site, operation: "resolve", rows: 1, milliseconds: 0, status: "ok",
                message: "conflict \(record.id) on table \(record.table) resolved: \(decision.rawValue)")
            return try conflict(id: record.id)
        }
    }

    /// Writes a row as an edit made at the hub: the version triggers stamp it (new version, no origin), so every
    /// site receives it. Nothing is written when the row is already so.
    private func writeAtHub(
        _ row: (values: [Value], deleted: Bool), schema: TableSchema, current: (values: [Value], deleted: Bool)?
    ) throws {
        let table = Identifier.quoted(schema.name)
        guard let current else {
            guard !row.deleted else { return }
            let placeholders = Array(repeating: "?", count: schema.columns.count).joined(separator: ", ")
            try connection.run(
                "INSERT INTO \(table) (\(SQLText.columnList(schema))) VALUES (\(placeholders))", row.values)
            return
        }
        let same =
            current.deleted == row.deleted && zip(current.values, row.values).allSatisfy { $0.isSameValue(as: $1) }
        if same { return }
        let keyIndexes = schema.primaryKeyIndexes
        let others = schema.columns.indices.filter { !keyIndexes.contains($0) }
        let assignments =
            others.enumerated().map { "\(Identifier.quoted(schema.columns[$1].name)) = ?\($0 + 1)" }
            + ["sync_deleted = ?\(others.count + 1)"]
        let keyMatch = keyIndexes.enumerated().map {
            "\(Identifier.quoted(schema.columns[$1].name)) = ?\(others.count + 2 + $0)"
        }.joined(separator: " AND ")
        try connection.run(
            "UPDATE \(table) SET \(assignments.joined(separator: ", ")) WHERE \(keyMatch)",
            others.map { row.values[$0] } + [.integer(row.deleted ? 1 : 0)] + keyIndexes.map { row.values[$0] })
    }

    // MARK: Rows set aside

    public func rejectedRows(site: String?, table: String?, includeApplied: Bool) throws -> [RejectedRecord] {
        try connection.query(
            "SELECT id, site_id, tbl, pk, origin_seq, bundle_id, reason, created_at, status, retried_at, incoming "
                + "FROM _fieldsync_rejected WHERE (?1 IS NULL OR site_id = ?1) AND (?2 IS NULL OR tbl = ?2) "
                + "AND (?3 = 1 OR status = 'set_aside') ORDER BY id",
            [site.map(Value.text) ?? .null, table.map(Value.text) ?? .null, .integer(includeApplied ? 1 : 0)]
        ).map { row in
            let incoming = RowJSON.decode(row[10].textValue ?? "")
            return RejectedRecord(
                id: row[0].integerValue ?? 0, site: row[1].textValue ?? "", table: row[2].textValue ?? "",
                key: row[3].textValue ?? "[]", originSequence: row[4].integerValue ?? 0,
                bundleID: row[5].textValue ?? "", reason: row[6].textValue ?? "", createdAt: row[7].textValue ?? "",
                status: RejectedRecord.Status(rawValue: row[8].textValue ?? "") ?? .setAside,
                retriedAt: row[9].textValue, columns: incoming?.values.map(\.name) ?? [],
                incoming: incoming?.values.map(\.value) ?? [], incomingOperation: incoming?.operation ?? .update)
        }
    }

    public func retryRejected(id: Int64) throws -> RetryResult {
        try connection.withTransaction {
            guard
                let row = try connection.query(
                    "SELECT site_id, tbl, origin_seq, bundle_id, incoming, base_version, changed, status, created_at "
                        + "FROM _fieldsync_rejected WHERE id = ?", [.integer(id)]
                ).first
            else {
                throw StoreError(.notFound, "there is no set-aside row \(id) at this hub", location: connection.path)
            }
            guard row[7].textValue == RejectedRecord.Status.setAside.rawValue else {
                throw StoreError(
                    .invalidState,
                    "set-aside row \(id) was retried already (\(row[7].textValue ?? "")): see 'fieldsync conflicts list'",
                    location: connection.path)
            }
            guard let incoming = RowJSON.decode(row[4].textValue ?? "") else {
                throw StoreError(.statement, "set-aside row \(id) cannot be read", location: connection.path)
            }
            let site = row[0].textValue ?? ""
            var changed: ColumnSet?
            if let text = row[6].textValue, let positions = Value.arrayFromJSON(text) {
                changed = ColumnSet(positions.compactMap { $0.integerValue.map(Int.init) })
            }
            let change = Change(
                operation: incoming.operation, origin: site, originSequence: row[2].integerValue ?? 0,
                baseVersion: row[5].integerValue ?? 0, changedColumns: changed,
                values: incoming.values.map(\.value))
            let result = try retry(
                change, columns: incoming.values.map(\.name), table: row[1].textValue ?? "", site: site,
                bundleID: row[3].textValue ?? "",
                madeAt: SiteClock.parse(row[8].textValue ?? "") ?? Date().timeIntervalSince1970)
            let now = nowText()
            if let status = result.rowStatus {
                try connection.run(
                    "UPDATE _fieldsync_rejected SET status = ?, attempts = attempts + 1, retried_at = ? WHERE id = ?",
                    [.text(status.rawValue), .text(now), .integer(id)])
            } else if case .failed(let reason) = result {
                try connection.run(
                    "UPDATE _fieldsync_rejected SET reason = ?, attempts = attempts + 1, retried_at = ? WHERE id = ?",
                    [.text(reason), .text(now), .integer(id)])
            }
            try log(
                site: site, operation: "retry", rows: result == .applied ? 1 : 0, milliseconds: 0,
                status: { if case .failed = result { "failed" } else { "ok" } }(),
                message: "set-aside row \(id) of table \(row[1].textValue ?? ""): \(result)")
            return result
        }
    }

    /// Judges and writes a set-aside change again, like a new arrival from `site`, but stamped as a change made at
    /// the hub (no origin), so the site that sent it receives it too.
    private func retry(
        _ change: Change, columns: [String], table: String, site: String, bundleID: String, madeAt: Double
    ) throws -> RetryResult {
        guard let hub = try tables().first(where: { $0.name == table }) else {
            return .failed(reason: "table '\(table)' is not synced by this hub")
        }
        var sent: [Column] = []
        for name in columns {
            guard let index = hub.columnIndex(named: name) else {
                return .failed(reason: "column '\(name)' of table '\(table)' is unknown at the hub")
            }
            sent.append(hub.columns[index])
        }
        for key in hub.primaryKey where !columns.contains(key) {
            return .failed(reason: "the site's table '\(table)' lacks the primary-key column '\(key)'")
        }
        let incoming = try TableSchema(name: table, columns: sent, primaryKey: hub.primaryKey)
        let versions = VersionAllocator(
            last: try connection.integer("SELECT version FROM _fieldsync_counter WHERE id = 1"), origin: nil)
        let applier: HubTableApplier
        do {
            applier = try HubTableApplier(
                incoming: incoming, hub: hub, connection: connection, versions: versions,
                clock: SiteClock(offset: 0, received: madeAt), rule: try rule(for: table))
        } catch let problem as RowProblem {
            return .failed(reason: problem.reason)
        }
        applier.retryStamp = Date().timeIntervalSince1970
        let recorder = try OutcomeRecorder(connection: connection, site: site, bundleID: bundleID)
        var report = IngestReport(status: .applied, site: site, bundleID: bundleID, sequence: 0)
        try connection.run("DELETE FROM _fieldsync_applying")
        try connection.run("INSERT INTO _fieldsync_applying (origin) VALUES (NULL)")
        let written = try applier.apply(change, recorder: recorder, report: &report)
        try connection.run("DELETE FROM _fieldsync_applying")
        try connection.run("UPDATE _fieldsync_counter SET version = ? WHERE id = 1", [.integer(versions.last)])
        switch written {
        case .applied: return .applied
        case .unchanged: return .unchanged
        case .conflict(let id): return .conflict(id: id)
        case .failed(let reason): return .failed(reason: reason)
        }
    }

    // MARK: Notifications

    public func dueNotifications(now: Double, limit: Int) throws -> [ConflictNotification] {
        try connection.query(
            "SELECT notification_id, table_name, record_id, client_id, details, created_at, attempts "
                + "FROM _fieldsync_conflict_notifications WHERE delivery = 'pending' "
                + "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY notification_id LIMIT ?",
            [.text(SiteClock.format(now)), .integer(Int64(limit))]
        ).map { row in
            ConflictNotification(
                id: row[0].integerValue ?? 0, table: row[1].textValue ?? "", recordID: row[2].textValue ?? "[]",
                site: row[3].textValue ?? "", details: row[4].textValue ?? "{}", createdAt: row[5].textValue ?? "",
                attempts: Int(row[6].integerValue ?? 0))
        }
    }

    public func recordDelivery(of notification: Int64, error: String?, now: Double) throws {
        try connection.withTransaction {
            guard
                let attempts = try connection.scalar(
                    "SELECT attempts FROM _fieldsync_conflict_notifications WHERE notification_id = ?",
                    [.integer(notification)])?.integerValue
            else {
                throw StoreError(
                    .notFound, "there is no conflict notification \(notification) at this hub",
                    location: connection.path)
            }
            if let error {
                let next = now + ConflictNotification.retryDelay(afterAttempts: Int(attempts) + 1)
                try connection.run(
                    "UPDATE _fieldsync_conflict_notifications SET attempts = attempts + 1, last_error = ?, "
                        + "next_attempt_at = ? WHERE notification_id = ?",
                    [.text(error), .text(SiteClock.format(next)), .integer(notification)])
            } else {
                try connection.run(
                    "UPDATE _fieldsync_conflict_notifications SET delivery = 'sent', sent_at = ?, "
                        + "attempts = attempts + 1, last_error = NULL WHERE notification_id = ?",
                    [.text(SiteClock.format(now)), .integer(notification)])
            }
        }
    }
}
