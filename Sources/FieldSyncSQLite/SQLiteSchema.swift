import FieldSyncCore

/// Reads table schemas from a SQLite database and creates tables from schemas.
public enum SQLiteSchema {
    /// The FieldSync column type for a SQLite declared type.
    ///
    /// Declared types are mapped by name first (`BOOLEAN`, `DATE`, `TIMESTAMPTZ`, `UUID`, `JSON`, …) and then by
    /// SQLite's affinity rules; a column without a declared type, or declared `ANY` (in a STRICT table the type
    /// that takes any value unchanged), becomes ``ColumnType/any`` so each value keeps its own storage class.
    public static func columnType(declared: String) -> ColumnType {
        let type = declared.uppercased().trimmingSpaces
        if type.isEmpty { return .any }
        let base = type.split(separator: "(").first.map(String.init)?.trimmingSpaces ?? type
        switch base {
        case "BOOLEAN", "BOOL": return .boolean
        case "DATE": return .date
        case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMETZ": return .timestamptz
        case "TIMESTAMP", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE": return .timestamp
        case "UUID": return .uuid
        case "JSON", "JSONB": return .json
        case "NUMERIC", "DECIMAL", "NUMERIC_TEXT": return .numeric
        case "JSON_TEXT": return .json
        case "BYTEA": return .blob
        case "ANY": return .any
        default: break
        }
        // SQLite's affinity rules (https://sqlite.org/datatype3.html, section 3.1), in their order.
        if type.contains("INT") { return .integer }
        if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") { return .text }
        if type.contains("BLOB") { return .blob }
        if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") { return .real }
        return .numeric
    }

    /// The schema of `table` as SQLite reports it (`PRAGMA table_info`).
    ///
    /// - Throws: ``StoreError`` with `.schema` if the table does not exist or has no primary key.
    public static func read(table: String, from connection: SQLiteConnection) throws -> TableSchema {
        let rows = try connection.query("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", [.text(table)])
        guard !rows.isEmpty else {
            throw StoreError(.schema, "table '\(table)' does not exist", location: connection.path)
        }
        var columns: [Column] = []
        var keys: [(Int64, String)] = []
        for row in rows {
            guard case .text(let name) = row[0] else { continue }
            let declared: String = if case .text(let text) = row[1] { text } else { "" }
            let notNull = row[2] == .integer(1)
            columns.append(Column(name: name, type: columnType(declared: declared), nullable: !notNull))
            if case .integer(let position) = row[3], position > 0 { keys.append((position, name)) }
        }
        guard !keys.isEmpty else {
            throw StoreError(
                .schema,
                "table '\(table)' has no primary key: FieldSync finds a row on every node by its key; give the "
                    + "table a PRIMARY KEY (a column of unique, never-NULL values, such as a UUID) or leave it out "
                    + "of the synced tables", location: connection.path)
        }
        do {
            return try TableSchema(name: table, columns: columns, primaryKey: keys.sorted { $0.0 < $1.0 }.map(\.1))
        } catch {
            throw StoreError(.schema, error.message, location: connection.path, underlying: error)
        }
    }

    /// Names of the user tables (not SQLite's own, not FieldSync's `_fieldsync` bookkeeping), sorted.
    public static func tableNames(in connection: SQLiteConnection) throws -> [String] {
        try connection.query(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                + "AND name NOT LIKE '\\_fieldsync%' ESCAPE '\\' ORDER BY name"
        ).compactMap { if case .text(let name) = $0[0] { name } else { nil } }
    }

    /// `CREATE TABLE IF NOT EXISTS` for `schema`, with quoted identifiers and declared types that map back to the
    /// same column types.
    public static func createStatement(for schema: TableSchema) -> String {
        var parts = schema.columns.map { column in
            var text = "\(Identifier.quoted(column.name))"
            let declared = declaredType(for: column.type)
            if !declared.isEmpty { text += " \(declared)" }
            if !column.nullable { text += " NOT NULL" }
            return text
        }
        parts.append("PRIMARY KEY (\(schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")))")
        return "CREATE TABLE IF NOT EXISTS \(Identifier.quoted(schema.name)) (\(parts.joined(separator: ", ")))"
    }

    /// The SQLite declared type written for a column type.
    ///
    /// Exact decimals and JSON get declared types with TEXT affinity (`NUMERIC_TEXT`, `JSON_TEXT`): under SQLite's
    /// NUMERIC affinity `'1.50'` would be stored as the real 1.5 and lose its exact form.
    public static func declaredType(for type: ColumnType) -> String {
        switch type {
        case .integer: "INTEGER"
        case .real: "REAL"
        case .text: "TEXT"
        case .blob: "BLOB"
        case .numeric: "NUMERIC_TEXT"
        case .boolean: "BOOLEAN"
        case .date: "DATE"
        case .timestamp: "TIMESTAMP"
        case .timestamptz: "TIMESTAMPTZ"
        case .uuid: "UUID"
        case .json: "JSON_TEXT"
        default: ""
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}

extension SQLiteSchema {
    /// `schemas` ordered so that a table comes after the tables its foreign keys reference (parents first);
    /// otherwise by name. Cycles keep their name order.
    public static func ordered(_ schemas: [TableSchema], connection: SQLiteConnection) throws -> [TableSchema] {
        let names = Set(schemas.map(\.name))
        var parents: [String: Set<String>] = [:]
        for schema in schemas {
            let rows = try connection.query("SELECT \"table\" FROM pragma_foreign_key_list(?)", [.text(schema.name)])
            parents[schema.name] = Set(
                rows.compactMap { row -> String? in
                    guard case .text(let parent) = row[0], parent != schema.name, names.contains(parent) else {
                        return nil
                    }
                    return parent
                })
        }
        var result: [TableSchema] = []
        var placed = Set<String>()
        var remaining = schemas.sorted { $0.name < $1.name }
        while !remaining.isEmpty {
            let index = remaining.firstIndex { parents[$0.name, default: []].isSubset(of: placed) } ?? 0
            let next = remaining.remove(at: index)
            result.append(next)
            placed.insert(next.name)
        }
        return result
    }
}
