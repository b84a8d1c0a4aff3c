/// One value of one column of one row, as FieldSync carries it between databases.
///
/// The cases mirror SQLite's storage classes. Types that need more than these to stay exact (`numeric`,
/// `timestamptz`, `date`, `uuid`, `json`) travel as `.text` in their canonical text form; the column's
/// ``ColumnType`` says how a store must read them.
public enum Value: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// Whether this is SQL `NULL` (an empty string is not).
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension Value: CustomStringConvertible {
    /// A short description that names the kind but never the content, so row data stays out of logs.
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer: "integer"
        case .real: "real"
        case .text(let text): "text(\(text.utf8.count) bytes)"
        case .blob(let bytes): "blob(\(bytes.count) bytes)"
        }
    }
}

extension Value {
    /// Exact equality, as a database compares: two NaN reals with the same bits are equal, and text is equal only
    /// byte for byte (Swift's `==` would call two Unicode normalisation forms of the same word equal, and an edit
    /// that changes one into the other would be lost).
    public func isSameValue(as other: Value) -> Bool {
        switch (self, other) {
        case (.real(let a), .real(let b)): a.bitPattern == b.bitPattern || a == b
        case (.text(let a), .text(let b)): a.utf8.elementsEqual(b.utf8)
        default: self == other
        }
    }
}
