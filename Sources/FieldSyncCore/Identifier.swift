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

    /// `text` (a name or value a file, a bundle or a person supplied) as a message may quote it: at most 64
    /// characters, with "…" when cut, and control and format characters (escape sequences, line breaks, bidi
    /// overrides) shown as `?`, so that a message printed to a terminal or kept in a log stays one short line.
    public static func shown(_ text: String) -> String {
        let scalars = text.unicodeScalars
        let kept = scalars.prefix(64).map { scalar -> Unicode.Scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: "?"
            default: scalar
            }
        }
        return String(String.UnicodeScalarView(kept)) + (scalars.count > 64 ? "…" : "")
    }

    /// The rule for table and column names, as said to a person whose name breaks it.
    ///
    /// One name travels unchanged through a bundle's manifest and batch file names, SQLite and PostgreSQL (which
    /// cuts names at 63 bytes), so FieldSync keeps to the names all of them read the same way, unquoted or not.
    public static let sqlNameRule =
        "FieldSync table and column names are 1 to 63 bytes of ASCII letters, digits and '_', not starting with a digit"

    /// The columns every synced table carries on the hub, which no synced table may have itself.
    public static let hubBookkeepingColumns = [
        "sync_version", "sync_modified_at", "sync_deleted", "sync_origin_client",
    ]

    /// Why `name` may never be a synced table, or `nil` when it may.
    ///
    /// Refused: FieldSync's own bookkeeping (`_fieldsync_*`, and `fieldsync_*` for its staging and triggers), SQLite's
    /// internal tables (`sqlite_*`), the hub's control schema (`sync_control`), and PostgreSQL's catalogs
    /// (`pg_*`, `information_schema`), which an unqualified name would reach before the data schema. Compared
    /// without regard to case, as both databases compare unquoted names.
    public static func reservedTableReason(_ name: String) -> String? {
        let lower = name.lowercased()
        if lower.hasPrefix("_fieldsync") || lower.hasPrefix("fieldsync_") {
            return "'\(name)' is a name FieldSync keeps for its own bookkeeping"
        }
        if lower.hasPrefix("sqlite_") { return "'\(name)' is a name SQLite keeps for its internal tables" }
        if lower.hasPrefix("pg_") || lower == "information_schema" {
            return "'\(name)' is a name PostgreSQL keeps for its catalogs"
        }
        if lower == "sync_control" { return "'\(name)' is the hub's control schema" }
        return nil
    }

    /// Why `name` may never be a column of a synced table, or `nil` when it may: the hub's own columns
    /// (``hubBookkeepingColumns``) and names starting `fieldsync_`, which FieldSync uses in staging tables.
    public static func reservedColumnReason(_ name: String) -> String? {
        let lower = name.lowercased()
        if hubBookkeepingColumns.contains(lower) {
            return "'\(name)' is a column the hub adds to every synced table for its own bookkeeping"
        }
        if lower.hasPrefix("fieldsync_") || lower.hasPrefix("_fieldsync") {
            return "'\(name)' is a name FieldSync keeps for its own bookkeeping"
        }
        return nil
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
