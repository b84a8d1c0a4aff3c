import FieldSyncCore
import Foundation

/// The PostgreSQL hub store: synced tables in a data schema (default `public`) and FieldSync's bookkeeping in the
/// `sync_control` schema, reached through libpq.
///
/// Every synced table gets the reference procedure's four columns: `sync_version` (from the sequence
/// `sync_control.version_seq`, stamped by triggers on every insert and every update that changes something, whoever
/// writes), `sync_modified_at`, `sync_deleted` (a `DELETE` becomes a tombstone) and `sync_origin_client` (the site
/// whose change made the version; NULL for changes made at the hub). Several hub processes may share one database:
/// each ingest holds a per-site advisory lock for its transaction.
public final class PostgresHubStore: HubStore {
    /// Where the store is and how to reach it.
    public struct Configuration: Sendable {
        /// A libpq connection string or `postgresql://` URL; empty to use the PG* environment variables alone.
        /// TLS options (`sslmode`, `sslrootcert`, …) pass through to libpq.
        public var conninfo: String
        /// libpq keywords that replace those of `conninfo` (for example `dbname`, `password`).
        public var overrides: [String: String]
        /// The schema holding the synced tables. Default `public`.
        public var dataSchema: String
        /// How long a return plan waits for transactions still running to end, so that it can carry every
        /// version taken so far. Past it, the plan stops before the oldest running writer's versions (they go in a
        /// later bundle). Default 5 seconds.
        public var watermarkWait: Duration
        /// Batches of at least this many changes are first tried through `COPY` into a staging table and one
        /// set-based `INSERT`: the fast path for rows the hub does not have yet (a first load). Default 64.
        public var copyThreshold: Int

        public init(
            conninfo: String, overrides: [String: String] = [:], dataSchema: String = "public",
            watermarkWait: Duration = .seconds(5), copyThreshold: Int = 64
        ) {
            self.conninfo = conninfo
            self.overrides = overrides
            self.dataSchema = dataSchema
            self.watermarkWait = watermarkWait
            self.copyThreshold = copyThreshold
        }
    }

    public let connection: PostgresConnection
    public let hubID: String
    public let configuration: Configuration
    /// Rows streamed per table for a return plan not yet recorded, keyed by site and sequence.
    var streamedRows: [String: [String: Int]] = [:]
    /// Statements prepared on ``connection``, by SQL text.
    var preparedStatements: [String: PostgresStatement] = [:]
    /// Names the staging tables of the COPY path.
    var stagingCounter = 0

    /// Opens an existing hub store, migrating its `sync_control` schema if this FieldSync has newer migrations.
    ///
    /// - Throws: ``StoreError`` with `.connection`, or `.invalidState` if `hub init` never ran on the database.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        connection = try PostgresConnection(conninfo: configuration.conninfo, overrides: configuration.overrides)
        guard try connection.scalar("SELECT to_regclass('sync_control.hub_settings')::text") != nil,
            let id = try connection.scalar("SELECT value FROM sync_control.hub_settings WHERE key = 'hub_id'")
        else {
            throw StoreError(
                .invalidState, "not a FieldSync hub database; run 'fieldsync hub init' first",
                location: connection.location)
        }
        hubID = id
        _ = try PostgresMigrations.migrate(connection)
    }

    /// Creates or migrates the `sync_control` schema and records the hub's id. Harmless to repeat.
    ///
    /// - Throws: ``StoreError`` with `.invalidState` if the database belongs to another hub.
    @discardableResult
    public static func create(configuration: Configuration, hubID: String) throws -> PostgresHubStore {
        let connection = try PostgresConnection(conninfo: configuration.conninfo, overrides: configuration.overrides)
        _ = try PostgresMigrations.migrate(connection)
        try connection.withTransaction {
            try connection.advisoryTransactionLock("fieldsync.migrations")
            if let existing = try connection.scalar("SELECT value FROM sync_control.hub_settings WHERE key = 'hub_id'"),
                existing != hubID
            {
                throw StoreError(
                    .invalidState, "this database belongs to hub '\(existing)', not '\(hubID)'",
                    location: connection.location)
            }
            try connection.run(
                "INSERT INTO sync_control.hub_settings (key, value) VALUES ('hub_id', $1), ('data_schema', $2) "
                    + "ON CONFLICT (key) DO NOTHING", [hubID, configuration.dataSchema])
            try connection.execute("CREATE SCHEMA IF NOT EXISTS \(Identifier.quoted(configuration.dataSchema))")
        }
        return try PostgresHubStore(configuration: configuration)
    }

    /// The four columns every synced table carries on the hub.
    static let syncColumns = Identifier.hubBookkeepingColumns

    /// `"schema"."table"` for a synced table.
    func qualified(_ table: String) -> String {
        "\(Identifier.quoted(configuration.dataSchema)).\(Identifier.quoted(table))"
    }

    // MARK: Sites

    public func registerSite(id: String, name: String, publicKey: String) throws {
        try connection.withTransaction {
            try connection.run(
                "INSERT INTO sync_control.client_state (client_id, client_name, public_key) VALUES ($1, $2, $3) "
                    + "ON CONFLICT (client_id) DO UPDATE SET client_name = excluded.client_name, "
                    + "public_key = excluded.public_key, updated_at = now()",
                [id, name, publicKey])
            try connection.run(
                "INSERT INTO sync_control.table_sync_state (client_id, table_name) "
                    + "SELECT $1, table_name FROM sync_control.synced_tables ON CONFLICT DO NOTHING", [id])
        }
    }

    public func publicKey(ofSite id: String) throws -> String? {
        try connection.scalar("SELECT public_key FROM sync_control.client_state WHERE client_id = $1", [id])
    }

    public func sites() throws -> [SiteRecord] {
        try connection.query(
            "SELECT client_id, client_name, public_key, created_at, last_sequence, applied_through, last_received_at, "
                + "last_return_sequence, last_return_at, last_sync_version, sync_control.pending_rows(client_id), "
                + "(SELECT count(*) FROM sync_control.conflicts c WHERE c.client_id = s.client_id), "
                + "(SELECT count(*) FROM sync_control.rejected_rows r WHERE r.client_id = s.client_id), "
                + "(SELECT count(*) FROM sync_control.conflicts c WHERE c.client_id = s.client_id "
                + "AND c.decision = 'pending') FROM sync_control.client_state s ORDER BY client_id"
        ).rows.map { row in
            SiteRecord(
                id: row[0] ?? "", name: row[1] ?? "", publicKey: row[2] ?? "", registeredAt: Self.rfc3339(row[3]) ?? "",
                lastSequence: Int64(row[4] ?? "") ?? 0, appliedThrough: Int64(row[5] ?? "") ?? 0,
                lastReceivedAt: Self.rfc3339(row[6]), lastReturnSequence: Int64(row[7] ?? "") ?? 0,
                lastReturnAt: Self.rfc3339(row[8]), ackedHubVersion: Int64(row[9] ?? "") ?? 0,
                pendingRows: Int64(row[10] ?? "") ?? 0, conflicts: Int64(row[11] ?? "") ?? 0,
                rejected: Int64(row[12] ?? "") ?? 0, waitingConflicts: Int64(row[13] ?? "") ?? 0)
        }
    }

    /// `2024-03-01 10:00:00.123+00` (the session is in UTC) as `2024-03-01T10:00:00Z`, like the SQLite store.
    static func rfc3339(_ text: String?) -> String? {
        guard let text, text.count >= 19 else { return text }
        return String(text.prefix(10)) + "T" + String(text.dropFirst(11).prefix(8)) + "Z"
    }

    // MARK: Tables

    /// The synced tables in apply order. A table registered under a name FieldSync keeps for itself (by a release
    /// that did not refuse one) is left out: it is never synced, whatever its registration says.
    public func tables() throws -> [TableSchema] {
        try connection.query(
            "SELECT table_name, schema_json FROM sync_control.synced_tables ORDER BY position, table_name"
        ).rows.compactMap { row in
            guard Identifier.reservedTableReason(row[0] ?? "") == nil else { return nil }
            return try JSONDecoder().decode(TableSchema.self, from: Data((row[1] ?? "").utf8))
        }
    }

    @discardableResult
    public func addTable(name: String, schema: TableSchema?) throws -> TableSchema {
        try TableSchema.checkSyncableName(name)
        if let schema {
            try schema.validate()
            try schema.checkSyncable()
        }
        return try connection.withTransaction {
            try connection.advisoryTransactionLock("fieldsync.tables")
            // The transaction id comes before any version: see the return watermark.
            try connection.run("SELECT pg_current_xact_id()")
            let exists = try connection.scalar("SELECT to_regclass($1)::text", [qualified(name)]) != nil
            let table: TableSchema
            if let schema {
                guard schema.name == name else {
                    throw StoreError(.schema, "schema is for table '\(schema.name)', not '\(name)'")
                }
                if !exists { try connection.execute(try createStatement(for: schema)) }
                table = schema
            } else {
                guard exists else {
                    throw StoreError(
                        .schema,
                        "table '\(name)' does not exist in schema '\(configuration.dataSchema)'; give its "
                            + "columns (--column NAME:TYPE … --primary-key …) or create it first",
                        location: connection.location)
                }
                let read = try PostgresSchema.read(table: name, schema: configuration.dataSchema, from: connection)
                table = try TableSchema(
                    name: name, columns: read.columns.filter { !Self.syncColumns.contains($0.name) },
                    primaryKey: read.primaryKey)
            }
            try table.validate()
            try table.checkSyncable()
            // Every column must exist with a type FieldSync can carry (this also refuses unknown types by name).
            let present = try PostgresSchema.read(table: name, schema: configuration.dataSchema, from: connection)
            for column in table.columns where present.columnIndex(named: column.name) == nil {
                throw StoreError(
                    .schema, "table '\(name)' at the hub has no column '\(column.name)'", location: connection.location)
            }
            let target = qualified(name)
            let additions = [
                "sync_version": "bigint NOT NULL DEFAULT 0", "sync_modified_at": "timestamptz",
                "sync_deleted": "boolean NOT NULL DEFAULT false", "sync_origin_client": "varchar(64)",
            ]
            for column in Self.syncColumns where present.columnIndex(named: column) == nil {
                try connection.execute("ALTER TABLE \(target) ADD COLUMN \(column) \(additions[column]!)")
            }
            try connection.execute(
                "CREATE INDEX IF NOT EXISTS \(Identifier.quoted(Self.indexName(name))) ON \(target) (sync_version)")
            // Rows already in the table are synced too: each takes a version (before the triggers exist, so the
            // unchanged-row rule does not skip them).
            try connection.run(
                "UPDATE \(target) SET sync_version = nextval('sync_control.version_seq'), sync_modified_at = now() "
                    + "WHERE sync_version = 0")
            let keys = table.primaryKey.map(SQLLiteral.string).joined(separator: ", ")
            try connection.execute(
                """
                CREATE OR REPLACE TRIGGER fieldsync_stamp BEFORE INSERT OR UPDATE ON \(target)
                    FOR EACH ROW EXECUTE FUNCTION sync_control.stamp_version(\(keys));
                CREATE OR REPLACE TRIGGER fieldsync_key_change AFTER UPDATE ON \(target)
                    FOR EACH ROW EXECUTE FUNCTION sync_control.tombstone_old_key(\(keys));
                CREATE OR REPLACE TRIGGER fieldsync_tombstone BEFORE DELETE ON \(target)
                    FOR EACH ROW EXECUTE FUNCTION sync_control.keep_tombstone(\(keys));
                CREATE OR REPLACE TRIGGER fieldsync_no_truncate BEFORE TRUNCATE ON \(target)
                    FOR EACH STATEMENT EXECUTE FUNCTION sync_control.refuse_truncate();
                """)
            let json = String(decoding: try JSONEncoder().encode(table), as: UTF8.self)
            try connection.run(
                "INSERT INTO sync_control.synced_tables (table_name, schema_json, position) VALUES ($1::text, $2, "
                    + "(SELECT count(*) FROM sync_control.synced_tables WHERE table_name <> $1::text)) "
                    + "ON CONFLICT (table_name) DO UPDATE SET schema_json = excluded.schema_json", [name, json])
            try connection.run(
                "INSERT INTO sync_control.table_sync_state (client_id, table_name) "
                    + "SELECT client_id, $1::text FROM sync_control.client_state ON CONFLICT DO NOTHING", [name])
            try connection.run(
                "INSERT INTO sync_control.conflict_rules (table_name, detection_method, resolution_strategy, "
                    + "notify_on_conflict) VALUES ($1, 'version_compare', 'server_wins', false) ON CONFLICT DO NOTHING",
                [name])
            if try conflictRule(for: name).strategy == .fieldMerge {
                try installHistory(for: table)
            }
            return table
        }
    }

    static func indexName(_ table: String) -> String {
        let name = "idx_\(table)_sync_version"
        return name.utf8.count <= 63 ? name : "idx_" + String(table.prefix(40)) + "_sync_version"
    }

    /// `CREATE TABLE` for a synced table with its sync columns.
    func createStatement(for schema: TableSchema) throws -> String {
        var parts = try schema.columns.map { column in
            var text = Identifier.quoted(column.name)
            text += " " + (try PostgresTypes.declaredType(for: column.type, column: column.name, table: schema.name))
            if !column.nullable { text += " NOT NULL" }
            return text
        }
        parts += [
            "sync_version bigint NOT NULL DEFAULT 0", "sync_modified_at timestamptz",
            "sync_deleted boolean NOT NULL DEFAULT false", "sync_origin_client varchar(64)",
            "PRIMARY KEY (\(schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")))",
        ]
        return "CREATE TABLE \(qualified(schema.name)) (\(parts.joined(separator: ", ")))"
    }

    /// Appends a line to `sync_control.sync_log`.
    public func logRefusal(_ refusal: BundleRefusal) throws {
        try connection.withTransaction {
            try connection.run(
                "INSERT INTO sync_control.refused_bundles (client_id, verified, bundle_id, source, reason) "
                    + "VALUES ($1, $2, $3, $4, $5)",
                [refusal.site, refusal.verified ? "t" : "f", refusal.bundleID, refusal.source, refusal.reason])
            try log(
                site: refusal.site, operation: "ingest", rows: 0, milliseconds: 0, status: BundleRefusal.logStatus,
                message: refusal.logMessage, error: refusal.reason)
        }
    }

    public func lastRefusals() throws -> [BundleRefusal] {
        try connection.query(
            "SELECT DISTINCT ON (client_id) client_id, verified, bundle_id, source, reason, "
                + "to_char(refused_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
                + "FROM sync_control.refused_bundles ORDER BY client_id, id DESC"
        ).rows.map { row in
            BundleRefusal(
                site: row[0], verified: row[1] == "t", bundleID: row[2], source: row[3] ?? "", reason: row[4] ?? "",
                at: row[5])
        }
    }

    public func danglingReferences(limit: Int) throws -> [DanglingReference] {
        let synced = try tables()
        guard !synced.isEmpty else { return [] }
        // Foreign keys declared at the hub that point at a synced table, with their column pairs in order.
        let constraints = try connection.query(
            "SELECT p.relname::text, c.conrelid::regclass::text, "
                + "json_agg(ca.attname ORDER BY k.n)::text, json_agg(pa.attname ORDER BY k.n)::text, "
                + "EXISTS (SELECT 1 FROM pg_attribute d WHERE d.attrelid = c.conrelid AND d.attname = 'sync_deleted' "
                + "AND NOT d.attisdropped) FROM pg_constraint c JOIN pg_class p ON p.oid = c.confrelid "
                + "JOIN pg_namespace ns ON ns.oid = p.relnamespace "
                + "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_column, parent_column, n) "
                + "JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_column "
                + "JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_column "
                + "WHERE c.contype = 'f' AND ns.nspname = $1 GROUP BY c.oid, c.conrelid, p.relname ORDER BY c.oid",
            [configuration.dataSchema]
        ).rows
        var found: [DanglingReference] = []
        for constraint in constraints where found.count < limit {
            guard let parent = synced.first(where: { $0.name == constraint[0] }), let child = constraint[1],
                let from = constraint[2].flatMap(Value.arrayFromJSON),
                let to = constraint[3].flatMap(Value.arrayFromJSON), from.count == to.count
            else { continue }
            func name(_ value: Value) -> String { if case .text(let text) = value { text } else { "" } }
            let match = zip(from, to).map { "c.\(Identifier.quoted(name($0))) = p.\(Identifier.quoted(name($1)))" }
                .joined(separator: " AND ")
            let keys = parent.primaryKey.map { "p.\(Identifier.quoted($0))" }.joined(separator: ", ")
            // `child` is the catalog's own rendering of the table's name (regclass), quoted where it needs to be.
            let rows = try connection.query(
                "SELECT json_build_array(\(keys))::text, count(*) FROM \(qualified(parent.name)) p JOIN \(child) c "
                    + "ON \(match) WHERE p.sync_deleted" + (constraint[4] == "t" ? " AND NOT c.sync_deleted" : "")
                    + " GROUP BY \(keys) LIMIT $1", [String(limit - found.count)]
            ).rows
            for row in rows {
                found.append(
                    DanglingReference(
                        table: parent.name, key: row[0] ?? "[]", child: child, rows: Int64(row[1] ?? "") ?? 0))
            }
        }
        return found
    }

    func log(
        site: String?, operation: String, table: String? = nil, rows: Int, milliseconds: Int, status: String,
        message: String, error: String? = nil
    ) throws {
        try connection.run(
            "INSERT INTO sync_control.sync_log (client_id, operation, table_name, rows_affected, duration_ms, status, "
                + "message, error_message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [site, operation, table, String(rows), String(milliseconds), status, message, error])
    }

    func elapsed(since start: DispatchTime) -> Int {
        Int((DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000)
    }
}

/// SQL string literals for names only (validated identifiers), never for values.
enum SQLLiteral {
    static func string(_ name: String) -> String {
        "'" + name.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }
}

/// Reads table schemas from the PostgreSQL catalog.
public enum PostgresSchema {
    /// The schema of `schema.table` with FieldSync column types.
    ///
    /// - Throws: ``StoreError`` with `.schema` if the table is missing, has no primary key, or has a column whose
    ///   type FieldSync cannot carry (the message names the column).
    public static func read(table: String, schema: String, from connection: PostgresConnection) throws -> TableSchema {
        let rows = try connection.query(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   CASE WHEN t.typtype = 'd' THEN t.typname END,
                   coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                             WHERE k.attnum = a.attnum), 0)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [schema, table]
        ).rows
        guard !rows.isEmpty else {
            throw StoreError(
                .schema, "table '\(table)' does not exist in schema '\(schema)'", location: connection.location)
        }
        var columns: [Column] = []
        var keys: [(Int, String)] = []
        for row in rows {
            let name = row[0] ?? ""
            let position = Int(row[4] ?? "0") ?? 0
            if position > 0 { keys.append((position, name)) }
            if PostgresHubStore.syncColumns.contains(name) { continue }
            let type = try PostgresTypes.columnType(
                formatted: row[1] ?? "", domain: row[3], column: name, table: table)
            columns.append(Column(name: name, type: type, nullable: row[2] != "t"))
        }
        for (name, type) in rows.compactMap({ row in row[0].map { ($0, row[1] ?? "") } })
        where PostgresHubStore.syncColumns.contains(name) {
            columns.append(Column(name: name, type: type == "bigint" ? .integer : .text))
        }
        guard !keys.isEmpty else {
            throw StoreError(
                .schema, "table '\(table)' has no primary key; FieldSync needs one to identify rows",
                location: connection.location)
        }
        do {
            return try TableSchema(name: table, columns: columns, primaryKey: keys.sorted { $0.0 < $1.0 }.map(\.1))
        } catch {
            throw StoreError(.schema, error.message, location: connection.location, underlying: error)
        }
    }
}
