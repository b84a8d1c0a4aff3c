import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// The rule of every synced table, from `sync_control.conflict_rules` (the default for a table without a row).
    ///
    /// A `resolution_strategy` FieldSync does not know (written by hand) reads as `server_wins`.
    public func conflictRules() throws -> [ConflictRule] {
        try connection.query(
            "SELECT s.table_name, \(Self.ruleColumns) FROM sync_control.synced_tables s "
                + "LEFT JOIN sync_control.conflict_rules r ON r.table_name = s.table_name "
                + "ORDER BY s.position, s.table_name"
        ).rows.compactMap { row in
            // A table registered under a reserved name is not synced (see ``tables()``), so it has no rule either.
            guard Identifier.reservedTableReason(row[0] ?? "") == nil else { return nil }
            return Self.rule(table: row[0] ?? "", row.dropFirst())
        }
    }

    /// The rule of one table, as ingest reads it once per batch.
    func conflictRule(for table: String) throws -> ConflictRule {
        guard
            let row = try prepared(
                "SELECT \(Self.ruleColumns) FROM sync_control.conflict_rules r WHERE r.table_name = $1"
            ).query([table]).rows.first
        else { return .default(for: table) }
        return Self.rule(table: table, row[...])
    }

    private static let ruleColumns =
        "r.resolution_strategy, r.merge_fallback, array_to_json(r.merge_fields)::text, r.notify_on_conflict"

    private static func rule(table: String, _ row: ArraySlice<String?>) -> ConflictRule {
        let fields = Array(row)
        let strategy = fields[0].flatMap(ConflictStrategy.init(rawValue:)) ?? .serverWins
        var fallback = fields[1].flatMap(ConflictStrategy.init(rawValue:)) ?? .serverWins
        if fallback == .fieldMerge { fallback = .serverWins }
        var mergeFields: [String]?
        if strategy == .fieldMerge, let text = fields[2], let values = Value.arrayFromJSON(text) {
            mergeFields = values.compactMap { if case .text(let name) = $0 { name } else { nil } }
        }
        return ConflictRule(
            table: table, strategy: strategy, fallback: fallback, mergeFields: mergeFields, notify: fields[3] == "t")
    }

    /// Sets a table's rule in `sync_control.conflict_rules`, checked against the table's schema. Making a table
    /// `field_merge` creates its history table and trigger; leaving `field_merge` drops them.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for a table the hub does not sync, `.schema` for a rule that does
    ///   not fit the table.
    public func setConflictRule(_ rule: ConflictRule) throws {
        try connection.withTransaction {
            try connection.advisoryTransactionLock("fieldsync.tables")
            guard let schema = try tables().first(where: { $0.name == rule.table }) else {
                throw StoreError(
                    .notFound, "table '\(rule.table)' is not synced by this hub", location: connection.location)
            }
            let rule = try rule.validated(against: schema)
            let fields = rule.mergeFields.map { "[" + $0.map(Value.jsonString).joined(separator: ",") + "]" }
            try connection.run(
                "INSERT INTO sync_control.conflict_rules (table_name, detection_method, resolution_strategy, "
                    + "priority_field, merge_fields, notify_on_conflict, merge_fallback) VALUES ($1, $2, $3, $4, "
                    + "CASE WHEN $5::text IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text($5::json)) END, "
                    + "$6, $7) ON CONFLICT (table_name) DO UPDATE SET detection_method = excluded.detection_method, "
                    + "resolution_strategy = excluded.resolution_strategy, priority_field = excluded.priority_field, "
                    + "merge_fields = excluded.merge_fields, notify_on_conflict = excluded.notify_on_conflict, "
                    + "merge_fallback = excluded.merge_fallback",
                [
                    rule.table, rule.detectionMethod, rule.strategy.rawValue, rule.priorityField, fields,
                    rule.notify ? "t" : "f", rule.fallback.rawValue,
                ])
            if rule.strategy == .fieldMerge {
                try installHistory(for: schema)
            } else {
                try dropHistory(for: schema.name)
            }
        }
    }

    // MARK: History of field_merge tables

    /// `sync_control."history_<table>"`.
    static func historyTable(_ table: String) -> String {
        "sync_control.\(Identifier.quoted(historyName(table)))"
    }

    /// The history table's name, at most 63 bytes like every PostgreSQL name: a longer one keeps the start of
    /// the table's name and ends with a checksum of the whole, so two long names never share a history table.
    static func historyName(_ table: String) -> String {
        let name = "history_\(table)"
        guard name.utf8.count > 63 else { return name }
        // FNV-1a over the name's bytes: stable across releases, unlike Swift's seeded hashing.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in table.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        var prefix = ""
        for character in table {
            guard prefix.utf8.count + String(character).utf8.count <= 38 else { break }
            prefix.append(character)
        }
        return "history_\(prefix)_\(String(hash, radix: 16))"
    }

    func historyExists(for table: String) throws -> Bool {
        try connection.scalar("SELECT to_regclass($1)::text", [Self.historyTable(table)]) != nil
    }

    /// Creates the table's history table (typed like the table, plus `history_at`) if missing, adds columns the
    /// table gained since, and (re)creates the trigger that fills it: after every update that gives a row a new
    /// version, the row as it was before.
    func installHistory(for schema: TableSchema) throws {
        let history = Self.historyTable(schema.name)
        let table = qualified(schema.name)
        if try !historyExists(for: schema.name) {
            try connection.execute(
                "CREATE TABLE \(history) (LIKE \(table)); "
                    + "ALTER TABLE \(history) ADD COLUMN history_at timestamptz NOT NULL DEFAULT now(); "
                    + "CREATE INDEX ON \(history) "
                    + "(\((schema.primaryKey + ["sync_version"]).map(Identifier.quoted).joined(separator: ", ")))")
        }
        // Columns the table gained after the history table was made (types from the catalog, never from input).
        let missing = try connection.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                + "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND NOT EXISTS "
                + "(SELECT 1 FROM pg_attribute h WHERE h.attrelid = $2::regclass AND h.attname = a.attname "
                + "AND NOT h.attisdropped) ORDER BY a.attnum", [table, history]
        ).rows
        for row in missing {
            guard let name = row[0], let type = row[1] else { continue }
            try connection.execute("ALTER TABLE \(history) ADD COLUMN \(Identifier.quoted(name)) \(type)")
        }
        let kept = schema.columns.map(\.name) + Self.syncColumns
        let arguments = ([Self.historyName(schema.name)] + kept).map(SQLLiteral.string).joined(separator: ", ")
        try connection.execute(
            "CREATE OR REPLACE TRIGGER fieldsync_history AFTER UPDATE ON \(table) FOR EACH ROW "
                + "WHEN (OLD.sync_version IS DISTINCT FROM NEW.sync_version) "
                + "EXECUTE FUNCTION sync_control.keep_history(\(arguments))")
    }

    /// Drops the table's history trigger and table, if any.
    func dropHistory(for table: String) throws {
        try connection.execute(
            "DROP TRIGGER IF EXISTS fieldsync_history ON \(qualified(table)); "
                + "DROP TABLE IF EXISTS \(Self.historyTable(table))")
    }

    /// How long history rows are kept at least, and only while some site may still base an edit on them.
    static let historyRetention = "30 days"

    /// Deletes history rows that every site has moved past (their version is at most the lowest version every
    /// site has acknowledged) and that are older than ``historyRetention``.
    func pruneHistory(_ history: String) throws {
        try connection.run(
            "DELETE FROM \(history) WHERE history_at < now() - interval '\(Self.historyRetention)' "
                + "AND sync_version <= (SELECT coalesce(min(last_sync_version), 0) FROM sync_control.client_state)")
    }
}
