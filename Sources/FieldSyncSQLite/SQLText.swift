import FieldSyncCore
import Foundation

/// Building blocks for SQL text made only from registered schema names, always quoted.
enum SQLText {
    /// `name` as a SQL string literal. Names reaching here are validated SQL names; the escaping is belt and braces.
    static func literal(_ name: String) -> String {
        "'" + name.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }

    /// `json_array(PREFIX."k1", PREFIX."k2")` over the primary-key columns: the canonical key text of a row.
    static func keyJSON(_ schema: TableSchema, prefix: String) -> String {
        "json_array(" + schema.primaryKey.map { "\(prefix).\(Identifier.quoted($0))" }.joined(separator: ", ") + ")"
    }

    /// `"k1" = json_extract(?N, '$[0]') AND …`: matches the row whose key JSON is bound to parameter `N`.
    static func keyMatch(_ schema: TableSchema, parameter: Int, prefix: String = "") -> String {
        schema.primaryKey.enumerated().map { index, key in
            "\(prefix)\(Identifier.quoted(key)) = json_extract(?\(parameter), '$[\(index)]')"
        }.joined(separator: " AND ")
    }

    /// `json_array(?, ?, …)` with one parameter per key column.
    static func keyJSONParameters(_ schema: TableSchema) -> String {
        "json_array(" + Array(repeating: "?", count: schema.primaryKey.count).joined(separator: ", ") + ")"
    }

    /// Quoted, comma-separated column names.
    static func columnList(_ schema: TableSchema, prefix: String = "") -> String {
        schema.columns.map { prefix + Identifier.quoted($0.name) }.joined(separator: ", ")
    }

    /// `OLD."c" COLLATE BINARY IS NOT NEW."c" OR …` over the given columns: true when an update changed any of them.
    ///
    /// BINARY, because a column's own collation (NOCASE, RTRIM) would call a change of case or of trailing spaces
    /// no change, and it would never travel.
    static func anyChanged(_ columns: [String]) -> String {
        columns.map { changed($0) }.joined(separator: " OR ")
    }

    /// `OLD."c" COLLATE BINARY IS NOT NEW."c"`: whether an update changed the column, byte for byte.
    static func changed(_ column: String) -> String {
        "OLD.\(Identifier.quoted(column)) COLLATE BINARY IS NOT NEW.\(Identifier.quoted(column))"
    }
}

extension SQLiteConnection {
    /// The first column of the first row as an integer, or `defaultValue`.
    func integer(_ sql: String, _ arguments: [Value] = [], default defaultValue: Int64 = 0) throws -> Int64 {
        if case .integer(let number) = try scalar(sql, arguments) { return number }
        return defaultValue
    }

    /// The first column of the first row as text, or `nil`.
    func text(_ sql: String, _ arguments: [Value] = []) throws -> String? {
        if case .text(let text) = try scalar(sql, arguments) { return text }
        return nil
    }
}

/// The current time as RFC 3339 UTC text to the second, for bookkeeping columns.
func nowText() -> String {
    SiteClock.format(Date().timeIntervalSince1970, wholeSeconds: true)
}
