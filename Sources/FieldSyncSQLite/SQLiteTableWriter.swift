import FieldSyncCore

/// Applies changes to one SQLite table through prepared statements: upsert by primary key, delete by primary key.
///
/// All SQL text comes from the registered ``TableSchema`` with quoted identifiers; values are always bound.
public final class SQLiteTableWriter {
    public let schema: TableSchema
    private let upsert: SQLiteStatement
    private let delete: SQLiteStatement
    private let keyIndexes: [Int]

    public init(schema: TableSchema, connection: SQLiteConnection) throws {
        self.schema = schema
        keyIndexes = schema.primaryKeyIndexes
        let table = Identifier.quoted(schema.name)
        let columns = schema.columns.map { Identifier.quoted($0.name) }
        let keys = schema.primaryKey.map(Identifier.quoted)
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let updates = schema.columns.filter { !schema.primaryKey.contains($0.name) }
            .map { "\(Identifier.quoted($0.name)) = excluded.\(Identifier.quoted($0.name))" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates.joined(separator: ", "))"
        upsert = try connection.prepare(
            "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders)) "
                + "ON CONFLICT (\(keys.joined(separator: ", "))) \(conflict)")
        delete = try connection.prepare(
            "DELETE FROM \(table) WHERE \(keys.map { "\($0) = ?" }.joined(separator: " AND "))")
    }

    /// Writes the row of an insert or update, or removes the row of a delete.
    public func apply(_ change: Change) throws {
        switch change.operation {
        case .insert, .update:
            try upsert.bind(change.values)
            while try upsert.step() {}
        case .delete:
            try delete.bind(keyIndexes.map { change.values[$0] })
            while try delete.step() {}
        }
    }
}

/// Reads every row of a table in primary-key order, one row at a time.
public struct SQLiteTableScan {
    public let schema: TableSchema
    private let statement: SQLiteStatement

    public init(schema: TableSchema, connection: SQLiteConnection) throws {
        self.schema = schema
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let order = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        statement = try connection.prepare(
            "SELECT \(columns) FROM \(Identifier.quoted(schema.name)) ORDER BY \(order)")
    }

    /// Calls `body` with each row's values in schema column order.
    public func forEach(_ body: ([Value]) throws -> Void) throws {
        statement.reset()
        while try statement.step() { try body(statement.row()) }
    }
}
