/// One column of a synced table.
public struct Column: Sendable, Hashable, Codable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool

    public init(name: String, type: ColumnType, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}

/// The shape of a synced table: its columns in order and its primary key.
///
/// Every change batch names a schema, and every row of the batch has one value per column in this order.
public struct TableSchema: Sendable, Hashable, Codable {
    public var name: String
    public var columns: [Column]
    /// Names of the primary-key columns, in key order.
    public var primaryKey: [String]

    /// Creates a schema after checking it: valid unique names, at least one column, a primary key made of
    /// existing columns.
    ///
    /// - Throws: ``SchemaError`` naming the table and column at fault.
    public init(name: String, columns: [Column], primaryKey: [String]) throws(SchemaError) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        try validate()
    }

    /// Checks the rules of ``init(name:columns:primaryKey:)``; used again after decoding from a file.
    public func validate() throws(SchemaError) {
        guard Identifier.isValidSQLName(name) else {
            throw SchemaError(
                .invalidName, table: name,
                message: "table name '\(Identifier.shown(name))' is not supported: \(Identifier.sqlNameRule)")
        }
        if let reason = Identifier.reservedTableReason(name) {
            throw SchemaError(.reservedName, table: name, message: "table \(reason) and cannot be synced")
        }
        guard !columns.isEmpty else {
            throw SchemaError(.invalidName, table: name, message: "table '\(name)' has no columns")
        }
        var seen = Set<String>()
        for column in columns {
            guard Identifier.isValidSQLName(column.name) else {
                throw SchemaError(
                    .invalidName, table: name, column: column.name,
                    message:
                        "column name '\(Identifier.shown(column.name))' of table '\(name)' is not supported: "
                        + Identifier.sqlNameRule)
            }
            guard seen.insert(column.name.lowercased()).inserted else {
                throw SchemaError(
                    .duplicateColumn, table: name, column: column.name,
                    message: "table '\(name)' has column '\(column.name)' twice")
            }
        }
        guard !primaryKey.isEmpty else {
            throw SchemaError(
                .missingPrimaryKey, table: name,
                message: "table '\(name)' has no primary key: FieldSync finds a row on every node by its key; "
                    + "give the table a PRIMARY KEY (a column of unique, never-NULL values, such as a UUID) "
                    + "or leave it out of the synced tables")
        }
        for key in primaryKey where columnIndex(named: key) == nil {
            throw SchemaError(
                .missingPrimaryKey, table: name, column: key,
                message: "primary-key column '\(key)' is not a column of table '\(name)'")
        }
    }

    /// Checks that a table a person asks to sync (`hub add-table`, `site init`) has none of the column names the
    /// hub keeps for its own bookkeeping (``Identifier/reservedColumnReason(_:)``).
    ///
    /// Not part of ``validate()``: a hub reads its own tables back with those columns before leaving them out.
    public func checkSyncable() throws(SchemaError) {
        for column in columns {
            if let reason = Identifier.reservedColumnReason(column.name) {
                throw SchemaError(
                    .reservedName, table: name, column: column.name,
                    message: "column \(reason); table '\(name)' cannot be synced until the column is renamed")
            }
        }
    }

    /// Refuses a table name no synced table may have (``Identifier/reservedTableReason(_:)``) or that breaks
    /// ``Identifier/sqlNameRule``, before anything looks the table up.
    public static func checkSyncableName(_ name: String) throws(SchemaError) {
        if let reason = Identifier.reservedTableReason(name) {
            throw SchemaError(.reservedName, table: name, message: "table \(reason) and cannot be synced")
        }
        guard Identifier.isValidSQLName(name) else {
            throw SchemaError(
                .invalidName, table: name, message: "table name '\(name)' is not supported: \(Identifier.sqlNameRule)")
        }
    }

    /// The position of the column called `name`, or `nil`.
    public func columnIndex(named name: String) -> Int? {
        columns.firstIndex { $0.name == name }
    }

    /// Positions of the primary-key columns, in key order.
    public var primaryKeyIndexes: [Int] {
        primaryKey.compactMap { columnIndex(named: $0) }
    }

    enum CodingKeys: String, CodingKey {
        case name, columns, primaryKey = "primary_key"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        columns = try container.decode([Column].self, forKey: .columns)
        primaryKey = try container.decode([String].self, forKey: .primaryKey)
        try validate()
    }
}
