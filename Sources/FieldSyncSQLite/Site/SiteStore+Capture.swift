import FieldSyncCore
import Foundation

extension SiteStore {
    /// Turns an application database into a tracked site: bookkeeping tables, capture triggers on `tables`
    /// (default: every table FieldSync can track), and every existing row recorded as a change for the first export.
    ///
    /// See ``installing(path:siteID:hubID:tables:)``, which also says which tables were skipped and why.
    @discardableResult
    public static func install(path: String, siteID: String, hubID: String, tables requested: [String]?) throws
        -> SiteStore
    {
        try installing(path: path, siteID: siteID, hubID: hubID, tables: requested).store
    }

    /// Turns an application database into a tracked site, in one transaction: nothing is left behind if it fails.
    ///
    /// With `tables`, exactly those are tracked (and every table tracked by an earlier run stays tracked); a table
    /// FieldSync cannot track, or whose foreign-key parent would not be tracked, stops it with the reason. Without,
    /// every table FieldSync can track is tracked and the others are skipped with the reason: views, virtual tables
    /// (FTS3/4/5, R*Tree, …) and their shadow tables, tables without a primary key or with a BLOB key column,
    /// names FieldSync cannot carry (``Identifier/sqlNameRule``) or keeps for itself, and tables whose foreign
    /// key refers to a skipped table.
    ///
    /// Running it again is harmless: it keeps existing bookkeeping, records the columns of the tracked tables anew
    /// and makes their triggers anew (a column added since then travels from now on), adds tables named anew and
    /// enrols rows that are not yet recorded. Run again with another hub id, it moves the site to that hub if the site has not
    /// applied a return bundle yet, and refuses otherwise.
    ///
    /// - Throws: ``StoreError`` if a table cannot be tracked, or the database is already a site with another id
    ///   or of a hub it has exchanged bundles with.
    public static func installing(path: String, siteID: String, hubID: String, tables requested: [String]?) throws
        -> (store: SiteStore, choice: SiteTableChoice)
    {
        let connection = try SQLiteConnection(path: path, create: false)
        let choice: SiteTableChoice = try connection.withTransaction {
            try connection.execute(bookkeepingSchema)
            try addEditTimes(connection: connection)
            if let existing = try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'site_id'"),
                existing != siteID
            {
                throw StoreError(
                    .invalidState, "this database is already tracked as site '\(existing)', not '\(siteID)'",
                    location: path)
            }
            try adoptHub(hubID, connection: connection)
            try connection.run(
                "INSERT INTO _fieldsync_state (key, value) VALUES ('site_id', ?) ON CONFLICT (key) DO NOTHING",
                [.text(siteID)])
            let tracked = try connection.query("SELECT name FROM _fieldsync_tables ORDER BY position, name")
                .compactMap { $0[0].textValue }
            try refreshTracked(connection: connection)
            let chosen = try chooseTables(requested: requested, tracked: tracked, connection: connection)
            var position = Int(try connection.integer("SELECT coalesce(max(position) + 1, 0) FROM _fieldsync_tables"))
            for schema in chosen.schemas {
                try track(schema, position: position, connection: connection)
                position += 1
            }
            let all = try connection.query("SELECT name FROM _fieldsync_tables ORDER BY position, name")
                .compactMap { $0[0].textValue }
            return SiteTableChoice(tracked: all, added: chosen.schemas.map(\.name), skipped: chosen.skipped)
        }
        return (try SiteStore(path: path), choice)
    }

    /// Records `hubID` as the site's hub. A site that has not applied a return bundle yet may move to another hub
    /// (its hub key was given wrongly, say); one that has exchanged bundles with its hub may not.
    private static func adoptHub(_ hubID: String, connection: SQLiteConnection) throws {
        guard let current = try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'hub_id'") else {
            try connection.run("INSERT INTO _fieldsync_state (key, value) VALUES ('hub_id', ?)", [.text(hubID)])
            return
        }
        guard current != hubID else { return }
        let applied = try connection.integer(
            "SELECT coalesce((SELECT value FROM _fieldsync_state WHERE key = 'last_return_sequence'), 0)")
        guard applied == 0 else {
            throw StoreError(
                .invalidState,
                "this site takes return bundles from hub '\(current)' and has applied \(applied) of them; it cannot "
                    + "move to hub '\(hubID)'. To join another hub, start from a copy of the application's database "
                    + "without FieldSync's tables", location: connection.path)
        }
        try connection.run("UPDATE _fieldsync_state SET value = ? WHERE key = 'hub_id'", [.text(hubID)])
    }

    /// Records anew the columns of every tracked table that still exists and makes its triggers anew, so that a
    /// column added since (`ALTER TABLE … ADD COLUMN`) is captured and travels from now on.
    ///
    /// - Throws: ``StoreError`` naming the table if it can no longer be tracked (a reserved column added, say).
    static func refreshTracked(connection: SQLiteConnection) throws {
        let kinds = Dictionary(try SQLiteSchema.tableKinds(in: connection).map { ($0.name, $0.kind) }) { a, _ in a }
        for row in try connection.query("SELECT name, position FROM _fieldsync_tables ORDER BY position, name") {
            guard let name = row[0].textValue, kinds[name] == .table else { continue }
            let schema = try trackable(name, kinds: kinds, connection: connection)
            try track(schema, position: Int(row[1].integerValue ?? 0), connection: connection)
        }
    }

    /// Starts tracking one table: registers its schema, installs its triggers and enrols its existing rows.
    ///
    /// A row whose key FieldSync cannot carry (a NULL or a BLOB in a key column) is not enrolled: it is listed in
    /// `_fieldsync_problems` (kind `capture`) with the reason, as the capture triggers do for later writes.
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
        let table = Identifier.quoted(schema.name)
        try connection.run(
            "INSERT INTO _fieldsync_problems (tbl, pk, reason, at, kind) SELECT ?, \(uncarriedKeyText(schema, "t")), "
                + "\(uncarriedKeyReason(schema, "t")), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'capture' "
                + "FROM \(table) AS t WHERE \(uncarriedKey(schema, "t")) ON CONFLICT (tbl, pk) DO NOTHING",
            [.text(schema.name)])
        // Rows present before tracking started travel in the first export: one counter value covers them all.
        let pending = try connection.integer(
            "SELECT count(*) FROM \(table) AS t WHERE \(carriedKey(schema, "t")) AND NOT EXISTS "
                + "(SELECT 1 FROM _fieldsync_rows r WHERE r.tbl = ? AND r.pk = \(SQLText.keyJSON(schema, prefix: "t")))",
            [.text(schema.name)])
        guard pending > 0 else { return }
        try connection.run("UPDATE _fieldsync_counter SET value = value + 1 WHERE id = 1")
        try connection.run(
            "INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, hub_version) "
                + "SELECT ?, \(SQLText.keyJSON(schema, prefix: "t")), (SELECT value FROM _fieldsync_counter WHERE id = 1), "
                + "-1, 0 FROM \(table) AS t WHERE \(carriedKey(schema, "t")) ON CONFLICT (tbl, pk) DO NOTHING",
            [.text(schema.name)])
    }

    /// SQL that is true when every key column of `row` holds a value FieldSync can carry as a key (not NULL,
    /// not a BLOB).
    static func carriedKey(_ schema: TableSchema, _ row: String) -> String {
        "("
            + schema.primaryKey.map { "typeof(\(row).\(Identifier.quoted($0))) NOT IN ('blob', 'null')" }
            .joined(separator: " AND ") + ")"
    }

    /// SQL that is true when a key column of `row` holds a NULL or a BLOB.
    static func uncarriedKey(_ schema: TableSchema, _ row: String) -> String {
        "("
            + schema.primaryKey.map { "typeof(\(row).\(Identifier.quoted($0))) IN ('blob', 'null')" }
            .joined(separator: " OR ") + ")"
    }

    /// The key of `row` as JSON text even when it holds a BLOB (written `x'…'`), for `_fieldsync_problems`.
    static func uncarriedKeyText(_ schema: TableSchema, _ row: String) -> String {
        "json_array("
            + schema.primaryKey.map {
                let column = "\(row).\(Identifier.quoted($0))"
                return "CASE typeof(\(column)) WHEN 'blob' THEN 'x''' || hex(\(column)) || '''' ELSE \(column) END"
            }.joined(separator: ", ") + ")"
    }

    /// Why `row`'s key cannot be carried, as an SQL text expression.
    static func uncarriedKeyReason(_ schema: TableSchema, _ row: String) -> String {
        let anyNull = schema.primaryKey.map { "\(row).\(Identifier.quoted($0)) IS NULL" }.joined(separator: " OR ")
        return "CASE WHEN \(anyNull) THEN "
            + SQLText.literal(
                "a primary-key value is NULL: FieldSync cannot tell such rows apart, so the row is not synced; "
                    + "give it a key value")
            + " ELSE "
            + SQLText.literal("a primary-key value is a BLOB, which FieldSync cannot track; store the key as text")
            + " END"
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
        CREATE TABLE IF NOT EXISTS _fieldsync_replaced (
            tbl TEXT NOT NULL, pk TEXT NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_untracked (
            tbl TEXT PRIMARY KEY, changes INTEGER NOT NULL, return_sequence INTEGER NOT NULL, at TEXT NOT NULL)
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
    /// tracked tables whose capture triggers were made before edit times, before rows with a NULL key were
    /// listed as problems, or before rows replaced through a unique value were captured. Only reads.
    static func missingEditTimes(connection: SQLiteConnection) throws -> (column: Bool, triggers: [TableSchema]) {
        let column = try !connection.query("SELECT name FROM pragma_table_info('_fieldsync_rows')")
            .contains { $0.first?.textValue == "changed_at" }
        var triggers: [TableSchema] = []
        let rows = try connection.query(
            "SELECT t.schema_json FROM _fieldsync_tables t JOIN sqlite_schema s ON s.type = 'trigger' "
                + "AND s.name = '_fieldsync_' || t.name || '_insert' "
                + "WHERE instr(s.sql, 'changed_at') = 0 OR instr(s.sql, '''null''') = 0 "
                + "OR NOT EXISTS (SELECT 1 FROM sqlite_schema r WHERE r.type = 'trigger' "
                + "AND r.name = '_fieldsync_' || t.name || '_replaced') "
                + "ORDER BY t.position, t.name")
        for row in rows {
            guard case .text(let json) = row[0] else { continue }
            triggers.append(try JSONDecoder().decode(TableSchema.self, from: Data(json.utf8)))
        }
        return (column, triggers)
    }

    /// Drops and creates the capture triggers of `schema`'s table.
    static func recreateTriggers(for schema: TableSchema, connection: SQLiteConnection) throws {
        for suffix in [
            "insert", "update", "delete", "blob_key", "key_problem", "key_problem_update", "replace", "replace_update",
            "replaced", "replaced_update",
        ] {
            try connection.execute("DROP TRIGGER IF EXISTS \(Identifier.quoted("_fieldsync_\(schema.name)_\(suffix)"))")
        }
        try connection.execute(
            captureTriggers(for: schema, unique: try uniqueColumnSets(of: schema, connection: connection)))
    }

    /// The column sets of `schema`'s UNIQUE constraints and indexes other than the primary key, where each column
    /// is a tracked column (not an expression, not a generated column) and the index is not partial: the values
    /// through which `INSERT OR REPLACE` and `UPDATE OR REPLACE` may delete another row.
    static func uniqueColumnSets(of schema: TableSchema, connection: SQLiteConnection) throws -> [[String]] {
        let names = Set(schema.columns.map(\.name))
        var sets: [[String]] = []
        let indexes = try connection.query(
            "SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 AND origin <> 'pk' AND partial = 0 "
                + "ORDER BY name", [.text(schema.name)])
        for index in indexes {
            guard let index = index[0].textValue else { continue }
            let columns = try connection.query(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno", [.text(index)]
            ).map { $0[0].textValue }
            let named = columns.compactMap { $0 }
            if !named.isEmpty && named.count == columns.count && named.allSatisfy(names.contains) {
                sets.append(named)
            }
        }
        return sets
    }

    /// The capture triggers of `schema`'s table: insert, update and delete, and two that list a row whose key
    /// cannot be carried (a NULL or a BLOB in a key column) in `_fieldsync_problems` instead of capturing it.
    ///
    /// Each bumps the change counter and records the row's key in `_fieldsync_rows` with the counter, a bit
    /// mask of the changed columns (bit i = column i; -1 = all, used for inserts, deletes, key changes and tables
    /// of more than 62 columns) and the edit time by the site's clock (`changed_at`, ISO 8601 UTC with
    /// milliseconds; the triggers run in the application's own connection, so only SQLite's built-in functions).
    /// A mask is reset once the hub has acknowledged the row's previous change. The triggers do nothing while
    /// FieldSync applies the hub's changes (`_fieldsync_applying` has a row), so nothing echoes back.
    ///
    /// With `unique` (the column sets of the table's other UNIQUE constraints), two more pairs capture the rows
    /// that `INSERT OR REPLACE` and `UPDATE OR REPLACE` delete for holding the same unique value under another key,
    /// which fire no delete trigger (unless the application turns `recursive_triggers` on): before the write, the
    /// keys of the rows holding the new unique values are noted in `_fieldsync_replaced`; after it, those of them
    /// that are gone are recorded as deleted. A write that fails or is ignored (`INSERT OR IGNORE`, an upsert)
    /// deletes nothing and records nothing.
    static func captureTriggers(for schema: TableSchema, unique: [[String]] = []) -> String {
        let table = Identifier.quoted(schema.name)
        let name = SQLText.literal(schema.name)
        let notApplying = "NOT EXISTS (SELECT 1 FROM _fieldsync_applying)"
        // A NULL or a BLOB in a key column (possible in a key column that is not an INTEGER PRIMARY KEY) cannot be
        // tracked: rows with a NULL key cannot be told apart, json_array refuses a BLOB, and a failing trigger
        // would break the application's own write. Such rows are listed as problems instead, never dropped unsaid.
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
        let problem = """
            INSERT INTO _fieldsync_problems (tbl, pk, reason, at, kind)
                SELECT \(name), \(uncarriedKeyText(schema, "NEW")), \(uncarriedKeyReason(schema, "NEW")),
                    strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'capture'
                WHERE true ON CONFLICT (tbl, pk) DO NOTHING;
            """
        let rowKey = SQLText.keyJSON(schema, prefix: "t")
        func sameKey(_ other: String) -> String {
            "("
                + schema.primaryKey.map { "t.\(Identifier.quoted($0)) IS \(other).\(Identifier.quoted($0))" }
                .joined(separator: " AND ") + ")"
        }
        let holdsNewValue = unique.map { set in
            "(" + set.map { "t.\(Identifier.quoted($0)) = NEW.\(Identifier.quoted($0))" }.joined(separator: " AND ")
                + ")"
        }.joined(separator: " OR ")
        func noteReplaced(_ otherThan: String) -> String {
            """
            DELETE FROM _fieldsync_replaced WHERE tbl = \(name);
                INSERT INTO _fieldsync_replaced (tbl, pk) SELECT \(name), \(rowKey) FROM \(table) AS t
                WHERE \(carriedKey(schema, "t")) AND (\(holdsNewValue)) AND \(otherThan)
                ON CONFLICT (tbl, pk) DO NOTHING;
            """
        }
        let gone = schema.primaryKey.enumerated().map { index, key in
            "t.\(Identifier.quoted(key)) = json_extract(r.pk, '$[\(index)]')"
        }.joined(separator: " AND ")
        let recordReplaced = """
            \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                SELECT r.tbl, r.pk, \(counter), -1, \(now) FROM _fieldsync_replaced AS r
                WHERE r.tbl = \(name) AND NOT EXISTS (SELECT 1 FROM \(table) AS t WHERE \(gone))
                \(whole)
                DELETE FROM _fieldsync_replaced WHERE tbl = \(name);
            """
        let anyReplaced = "EXISTS (SELECT 1 FROM _fieldsync_replaced WHERE tbl = \(name))"
        var replaced = """
            CREATE TRIGGER \(Identifier.quoted(prefix + "_replaced")) AFTER INSERT ON \(table)
            WHEN \(notApplying) AND \(anyReplaced) BEGIN
                \(recordReplaced)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_replaced_update")) AFTER UPDATE ON \(table)
            WHEN \(notApplying) AND \(anyReplaced) BEGIN
                \(recordReplaced)
            END;

            """
        if !unique.isEmpty {
            replaced += """
                CREATE TRIGGER \(Identifier.quoted(prefix + "_replace")) BEFORE INSERT ON \(table)
                WHEN \(notApplying) BEGIN
                    \(noteReplaced("NOT \(sameKey("NEW"))"))
                END;
                CREATE TRIGGER \(Identifier.quoted(prefix + "_replace_update")) BEFORE UPDATE ON \(table)
                WHEN \(notApplying) BEGIN
                    \(noteReplaced("NOT \(sameKey("NEW")) AND NOT \(sameKey("OLD"))"))
                END;

                """
        }
        return replaced + """
            CREATE TRIGGER \(Identifier.quoted(prefix + "_insert")) AFTER INSERT ON \(table)
            WHEN \(notApplying) AND \(carriedKey(schema, "NEW")) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                VALUES (\(name), \(newKey), \(counter), -1, \(now))
                \(whole)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_update")) AFTER UPDATE ON \(table)
            WHEN \(notApplying) AND (\(carriedKey(schema, "NEW")) OR \(carriedKey(schema, "OLD")))
                AND (\(SQLText.anyChanged(schema.columns.map(\.name)))) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                SELECT \(name), \(oldKey), \(counter), -1, \(now)
                WHERE \(carriedKey(schema, "OLD")) AND \(oldKey) IS NOT \(newKey)
                \(whole)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                SELECT \(name), \(newKey), \(counter),
                    CASE WHEN \(oldKey) IS NOT \(newKey) OR NOT \(carriedKey(schema, "OLD")) THEN -1
                    ELSE \(columnMask) END, \(now)
                WHERE \(carriedKey(schema, "NEW"))
                ON CONFLICT (tbl, pk) DO UPDATE SET local_seq = excluded.local_seq,
                    changed = CASE WHEN _fieldsync_rows.local_seq <= \(acked) THEN excluded.changed
                              ELSE _fieldsync_rows.changed | excluded.changed END,
                    changed_at = excluded.changed_at;
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_delete")) AFTER DELETE ON \(table)
            WHEN \(notApplying) AND \(carriedKey(schema, "OLD")) BEGIN
                \(bump)
                INSERT INTO _fieldsync_rows (tbl, pk, local_seq, changed, changed_at)
                VALUES (\(name), \(oldKey), \(counter), -1, \(now))
                \(whole)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_key_problem")) AFTER INSERT ON \(table)
            WHEN \(notApplying) AND \(uncarriedKey(schema, "NEW")) BEGIN
                \(problem)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_key_problem_update")) AFTER UPDATE ON \(table)
            WHEN \(notApplying) AND \(uncarriedKey(schema, "NEW")) BEGIN
                \(problem)
            END;
            """
    }
}
