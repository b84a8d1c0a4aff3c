import FieldSyncCore
import Foundation

extension SiteStore {
    /// Turns an application database into a tracked site: bookkeeping tables, capture triggers on `tables`
    /// (default: every table with a primary key), and every existing row recorded as a change for the first export.
    ///
    /// Running it again is harmless: it keeps existing bookkeeping, adds tables named anew and enrols rows that
    /// are not yet recorded.
    ///
    /// - Throws: ``StoreError`` if a table is missing, has no primary key, has a BLOB key, or the database is
    ///   already a site with another id.
    @discardableResult
    public static func install(path: String, siteID: String, hubID: String, tables requested: [String]?) throws
        -> SiteStore
    {
        let connection = try SQLiteConnection(path: path)
        try connection.withTransaction {
            try connection.execute(bookkeepingSchema)
            try addEditTimes(connection: connection)
            if let existing = try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'site_id'"),
                existing != siteID
            {
                throw StoreError(
                    .invalidState, "this database is already tracked as site '\(existing)', not '\(siteID)'",
                    location: path)
            }
            try connection.run(
                "INSERT INTO _fieldsync_state (key, value) VALUES ('site_id', ?), ('hub_id', ?) "
                    + "ON CONFLICT (key) DO NOTHING", [.text(siteID), .text(hubID)])
            let names: [String]
            if let requested {
                names = requested
            } else {
                // Every table FieldSync can track: with a primary key, none of whose columns is a BLOB.
                names = try SQLiteSchema.tableNames(in: connection).filter { name in
                    guard let schema = try? SQLiteSchema.read(table: name, from: connection) else { return false }
                    return schema.primaryKeyIndexes.allSatisfy { schema.columns[$0].type != .blob }
                }
            }
            let schemas = try SQLiteSchema.ordered(
                try names.map { try SQLiteSchema.read(table: $0, from: connection) }, connection: connection)
            for (position, schema) in schemas.enumerated() {
                try track(schema, position: position, connection: connection)
            }
        }
        return try SiteStore(path: path)
    }

    /// Starts tracking one table: registers its schema, installs its triggers and enrols its existing rows.
    static func track(_ schema: TableSchema, position: Int, connection: SQLiteConnection) throws {
        for key in schema.primaryKeyIndexes where schema.columns[key].type == .blob {
            throw StoreError(
                .schema,
                "table '\(schema.name)' has a BLOB primary-key column '\(schema.columns[key].name)', which "
                    + "FieldSync cannot track", location: connection.path)
        }
        let json = String(decoding: try JSONEncoder().encode(schema), as: UTF8.self)
        try connection.run(
            "INSERT INTO _fieldsync_tables (name, schema_json, position) VALUES (?, ?, ?) "
                + "ON CONFLICT (name) DO UPDATE SET schema_json = excluded.schema_json",
            [.text(schema.name), .text(json), .integer(Int64(position))])
        // Triggers are made anew, so that re-running site init after a column was added covers the new column.
        try recreateTriggers(for: schema, connection: connection)
        // Rows present before tracking started travel in the first export: one counter value covers them all.
        let pending = try connection.integer(
            "SELECT count(*) FROM \(Identifier.quoted(schema.name)) AS t WHERE NOT EXISTS "
                + "(SELECT 1 FROM _fieldsync_rows r WHERE r.tbl = ? AND r.pk = \(SQLText.keyJSON(schema, prefix: "t")))",
            [.text(schema.name)])
        guard pending > 0 else { return }
        try connection.run("UPDATE _fieldsync_counter SET value = value + 1 WHERE id = 1")
        try connection.run(
            "INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, hub_version) "
                + "SELECT ?, \(SQLText.keyJSON(schema, prefix: "t")), (SELECT value FROM _fieldsync_counter WHERE id = 1), "
                + "-1, 0 FROM \(Identifier.quoted(schema.name)) AS t WHERE true ON CONFLICT (tbl, pk) DO NOTHING",
            [.text(schema.name)])
    }

    /// Bookkeeping tables, all prefixed `_fieldsync`.
    static let bookkeepingSchema = """
        CREATE TABLE IF NOT EXISTS _fieldsync_state (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_counter (
            id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL, acked INTEGER NOT NULL);
        INSERT INTO _fieldsync_counter (id, value, acked) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS _fieldsync_applying (origin TEXT);
        CREATE TABLE IF NOT EXISTS _fieldsync_tables (
            name TEXT PRIMARY KEY, schema_json TEXT NOT NULL, position INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_rows (
            tbl TEXT NOT NULL, pk TEXT NOT NULL, local_seq INTEGER NOT NULL DEFAULT 0,
            changed INTEGER NOT NULL DEFAULT 0, hub_version INTEGER NOT NULL DEFAULT 0, changed_at TEXT,
            PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
        DROP INDEX IF EXISTS _fieldsync_rows_pending;
        CREATE INDEX IF NOT EXISTS _fieldsync_rows_changed ON _fieldsync_rows (tbl, local_seq) WHERE local_seq > 0;
        CREATE TABLE IF NOT EXISTS _fieldsync_outcomes (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL,
            origin_seq INTEGER NOT NULL, hub_id INTEGER NOT NULL, reason TEXT NOT NULL, local_row TEXT,
            return_sequence INTEGER NOT NULL, received_at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS _fieldsync_received (
            bundle_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, applied_at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_problems (
            tbl TEXT NOT NULL, pk TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'export', PRIMARY KEY (tbl, pk))
            WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_log (
            id INTEGER PRIMARY KEY, operation TEXT NOT NULL, sequence INTEGER, rows INTEGER, status TEXT NOT NULL,
            message TEXT, at TEXT NOT NULL);
        """

    /// Brings a site database from before edit times up to date: adds `_fieldsync_rows.changed_at` (NULL for
    /// the changes already recorded: their edit time is unknown) and makes anew the capture triggers of every
    /// tracked table whose triggers do not stamp it yet. Call it inside a transaction.
    static func addEditTimes(connection: SQLiteConnection) throws {
        let missing = try missingEditTimes(connection: connection)
        if missing.column {
            try connection.execute("ALTER TABLE _fieldsync_rows ADD COLUMN changed_at TEXT")
        }
        for schema in missing.triggers { try recreateTriggers(for: schema, connection: connection) }
    }

    /// What ``addEditTimes(connection:)`` has to do: whether `_fieldsync_rows` lacks `changed_at`, and the
    /// tracked tables whose capture triggers were made before edit times. Only reads.
    static func missingEditTimes(connection: SQLiteConnection) throws -> (column: Bool, triggers: [TableSchema]) {
        let column = try !connection.query("SELECT name FROM pragma_table_info('_fieldsync_rows')")
            .contains { $0.first?.textValue == "changed_at" }
        var triggers: [TableSchema] = []
        let rows = try connection.query(
            "SELECT t.schema_json FROM _fieldsync_tables t JOIN sqlite_schema s ON s.type = 'trigger' "
                + "AND s.name = '_fieldsync_' || t.name || '_insert' WHERE instr(s.sql, 'changed_at') = 0 "
                + "ORDER BY t.position, t.name")
        for row in rows {
            guard case .text(let json) = row[0] else { continue }
            triggers.append(try JSONDecoder().decode(TableSchema.self, from: Data(json.utf8)))
        }
        return (column, triggers)
    }

    /// Drops and creates the capture triggers of `schema`'s table.
    static func recreateTriggers(for schema: TableSchema, connection: SQLiteConnection) throws {
        for suffix in ["insert", "update", "delete", "blob_key"] {
            try connection.execute("DROP TRIGGER IF EXISTS \(Identifier.quoted("_fieldsync_\(schema.name)_\(suffix)"))")
        }
        try connection.execute(captureTriggers(for: schema))
    }

    /// The three capture triggers of `schema`'s table.
    ///
    /// Each bumps the change counter and records the row's key in `_fieldsync_rows` with the counter, a bit
    /// mask of the changed columns (bit i = column i; -1 = all, used for inserts, deletes, key changes and tables
    /// of more than 62 columns) and the edit time by the site's clock (`changed_at`, ISO 8601 UTC with
    /// milliseconds; the triggers run in the application's own connection, so only SQLite's built-in functions).
    /// A mask is reset once the hub has acknowledged the row's previous change. The triggers do nothing while
    /// FieldSync applies the hub's changes (`_fieldsync_applying` has a row), so nothing echoes back.
    static func captureTriggers(for schema: TableSchema) -> String {
        let table = Identifier.quoted(schema.name)
        let name = SQLText.literal(schema.name)
        let notApplying = "NOT EXISTS (SELECT 1 FROM _fieldsync_applying)"
        // A BLOB in a key column (possible in an untyped or TEXT column) cannot be tracked: json_array refuses it,
        // and a failing trigger would break the application's own write. Such rows are listed as problems instead.
        func noBlobKey(_ row: String) -> String {
            schema.primaryKey.map { "typeof(\(row).\(Identifier.quoted($0))) <> 'blob'" }.joined(separator: " AND ")
        }
        func anyBlobKey(_ row: String) -> String {
            schema.primaryKey.map { "typeof(\(row).\(Identifier.quoted($0))) = 'blob'" }.joined(separator: " OR ")
        }
        let blobKeyText =
            "json_array("
            + schema.primaryKey.map {
                "CASE typeof(NEW.\(Identifier.quoted($0))) WHEN 'blob' THEN 'x''' || hex(NEW.\(Identifier.quoted($0))) || '''' "
                    + "ELSE NEW.\(Identifier.quoted($0)) END"
            }.joined(separator: ", ") + ")"
        let counter = "(SELECT value FROM _fieldsync_counter WHERE id = 1)"
        let acked = "(SELECT acked FROM _fieldsync_counter WHERE id = 1)"
        let bump = "UPDATE _fieldsync_counter SET value = value + 1 WHERE id = 1;"
        let newKey = SQLText.keyJSON(schema, prefix: "NEW")
        let oldKey = SQLText.keyJSON(schema, prefix: "OLD")
        let columnMask: String
        if schema.columns.count > 62 {
            columnMask = "-1"
        } else {
            columnMask =
                "("
                + schema.columns.enumerated().map { index, column in
                    "(CASE WHEN \(SQLText.changed(column.name)) THEN \(Int64(1) << Int64(index)) ELSE 0 END)"
                }.joined(separator: " | ") + ")"
        }
        let now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        let whole =
            "ON CONFLICT (tbl, pk) DO UPDATE SET local_seq = excluded.local_seq, changed = -1, "
            + "changed_at = excluded.changed_at;"
        let prefix = "_fieldsync_\(schema.name)"
        return """
            CREATE TRIGGER \(Identifier.quoted(prefix + "_insert")) AFTER INSERT ON \(table)
            WHEN \(notApplying) AND \(noBlobKey("NEW")) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                VALUES (\(name), \(newKey), \(counter), -1, \(now))
                \(whole)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_update")) AFTER UPDATE ON \(table)
            WHEN \(notApplying) AND \(noBlobKey("NEW")) AND \(noBlobKey("OLD"))
                AND (\(SQLText.anyChanged(schema.columns.map(\.name)))) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                SELECT \(name), \(oldKey), \(counter), -1, \(now) WHERE \(oldKey) IS NOT \(newKey)
                \(whole)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                VALUES (\(name), \(newKey), \(counter), CASE WHEN \(oldKey) IS NOT \(newKey) THEN -1 ELSE \(columnMask) END,
                        \(now))
                ON CONFLICT (tbl, pk) DO UPDATE SET local_seq = excluded.local_seq,
                    changed = CASE WHEN _fieldsync_rows.local_seq <= \(acked) THEN excluded.changed
                              ELSE _fieldsync_rows.changed | excluded.changed END,
                    changed_at = excluded.changed_at;
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_delete")) AFTER DELETE ON \(table)
            WHEN \(notApplying) AND \(noBlobKey("OLD")) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                VALUES (\(name), \(oldKey), \(counter), -1, \(now))
                \(whole)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_blob_key")) AFTER INSERT ON \(table)
            WHEN \(notApplying) AND (\(anyBlobKey("NEW"))) BEGIN
                INSERT INTO _fieldsync_problems (tbl, pk, reason, at, kind)
                VALUES (\(name), \(blobKeyText), 'a primary-key value is a BLOB, which FieldSync cannot track',
                        strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'capture')
                ON CONFLICT (tbl, pk) DO NOTHING;
            END;
            """
    }
}
