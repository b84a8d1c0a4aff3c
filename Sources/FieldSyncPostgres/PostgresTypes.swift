import FieldSyncCore

/// How FieldSync column types map to PostgreSQL types, and how values travel as PostgreSQL text.
///
/// | FieldSync | PostgreSQL created | PostgreSQL adopted |
/// |---|---|---|
/// | integer | bigint | smallint, integer, bigint |
/// | real | double precision | real, double precision |
/// | text | text | text, varchar(n), char(n) |
/// | blob | bytea | bytea |
/// | numeric | numeric | numeric(p,s) |
/// | boolean | boolean | boolean |
/// | date | date | date |
/// | timestamp | timestamp | timestamp(p) |
/// | timestamptz | sync_control.timestamptz_text (text checked as a timestamptz: the offset is kept) | timestamptz (the instant is kept, shown in UTC) |
/// | uuid | uuid | uuid |
/// | json | json (text kept as written) | json, jsonb (jsonb normalises the text) |
public enum PostgresTypes {
    /// The domain FieldSync creates for `timestamptz` columns: text that must read as a timestamptz, kept exactly
    /// as written so the site's offset survives (a PostgreSQL `timestamptz` keeps only the instant).
    public static let timestamptzText = "timestamptz_text"

    /// The PostgreSQL type written for a FieldSync column type in `CREATE TABLE`.
    ///
    /// - Throws: ``StoreError`` with `.schema` for ``ColumnType/any`` (a SQLite column without a declared type).
    public static func declaredType(for type: ColumnType, column: String, table: String) throws -> String {
        switch type {
        case .integer: return "bigint"
        case .real: return "double precision"
        case .text: return "text"
        case .blob: return "bytea"
        case .numeric: return "numeric"
        case .boolean: return "boolean"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .timestamptz: return "sync_control.\(timestamptzText)"
        case .uuid: return "uuid"
        case .json: return "json"
        default:
            throw StoreError(
                .schema,
                "column '\(column)' of table '\(table)' has no declared type or is declared ANY "
                    + "(each value keeps its own kind), which the PostgreSQL hub cannot carry; declare a type for "
                    + "it at the sites")
        }
    }

    /// The FieldSync column type for a PostgreSQL type (`format_type` text, and the base type name of a domain).
    ///
    /// - Throws: ``StoreError`` with `.schema` naming the column when FieldSync cannot carry the type.
    public static func columnType(formatted: String, domain: String?, column: String, table: String) throws
        -> ColumnType
    {
        if domain == timestamptzText { return .timestamptz }
        // Drop a type modifier wherever format_type puts it: "numeric(10,2)", "timestamp(3) with time zone".
        var base = formatted
        while let open = base.firstIndex(of: "("), let close = base[open...].firstIndex(of: ")") {
            base.removeSubrange(open...close)
        }
        switch base.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") {
        case "smallint", "integer", "bigint": return .integer
        case "real", "double precision": return .real
        case "text", "character varying", "character", "\"char\"", "name", "citext": return .text
        case "bytea": return .blob
        case "numeric": return .numeric
        case "boolean": return .boolean
        case "date": return .date
        case "timestamp without time zone", "timestamp": return .timestamp
        case "timestamp with time zone": return .timestamptz
        case "uuid": return .uuid
        case "json", "jsonb": return .json
        default:
            throw StoreError(
                .schema,
                "column '\(column)' of table '\(table)' has type \(formatted), which FieldSync cannot "
                    + "carry; use text, varchar, integer, bigint, numeric, real, double precision, boolean, date, "
                    + "timestamp, timestamptz, uuid, json, jsonb or bytea")
        }
    }

    /// `value` as a text-format parameter; `nil` for NULL.
    public static func parameter(_ value: Value) -> String? {
        switch value {
        case .null: return nil
        case .integer(let number): return String(number)
        case .real(let number):
            if number.isNaN { return "NaN" }
            if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
            return "\(number)"
        case .text(let text): return text
        case .blob(let bytes): return "\\x" + Hex.encode(bytes)
        }
    }

    /// The value of a column of FieldSync type `type` read back as text (`nil` is NULL).
    public static func value(_ text: String?, type: ColumnType) -> Value {
        guard let text else { return .null }
        switch type {
        case .integer: return Int64(text).map(Value.integer) ?? .text(text)
        case .real: return real(text).map(Value.real) ?? .text(text)
        case .boolean: return text == "t" ? .integer(1) : text == "f" ? .integer(0) : .text(text)
        case .blob: return bytea(text).map(Value.blob) ?? .text(text)
        default: return .text(text)
        }
    }

    /// A value read back as text, by the column's type OID: for queries whose columns are not a synced table's.
    public static func value(_ text: String?, oid: UInt32) -> Value {
        guard let text else { return .null }
        switch oid {
        case 20, 21, 23, 26: return Int64(text).map(Value.integer) ?? .text(text)
        case 700, 701: return real(text).map(Value.real) ?? .text(text)
        case 16: return .integer(text == "t" ? 1 : 0)
        case 17: return bytea(text).map(Value.blob) ?? .text(text)
        default: return .text(text)
        }
    }

    static func real(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}

extension PostgresTypes {
    /// The bytes of `bytea`'s hex text form (`\\x` and hex digits).
    static func bytea(_ text: String) -> [UInt8]? {
        guard text.hasPrefix("\\x") else { return nil }
        return Hex.decode(String(text.dropFirst(2)))
    }
}
