/// Rules for the names FieldSync accepts from configuration, manifests and the command line.
///
/// Node ids appear in file names and paths; table and column names are quoted in SQL but must still be
/// sane. Checking them once at the edge means no later code has to trust a name it was handed.
public enum Identifier {
    /// Whether `id` is a valid node (hub or site) id: 1 to 64 of `A-Z a-z 0-9 - _`, starting with a letter
    /// or digit.
    public static func isValidNodeID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...64).contains(bytes.count), isAlphanumeric(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// Whether `name` is a valid table or column name: 1 to 63 bytes of `A-Z a-z 0-9 _`, not starting with a digit.
    ///
    /// PostgreSQL truncates identifiers at 63 bytes; refusing longer names avoids two names meaning one table.
    public static func isValidSQLName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), !isDigit(bytes[0]) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
    }

    /// `name` as a double-quoted SQL identifier (valid for SQLite and PostgreSQL).
    public static func quoted(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }
}
