import Foundation

/// The `sqlite3` command-line shell, as field staff and HQ staff use it: edits made through it go through
/// FieldSync's triggers like any other program's, and what it prints is an independent view of a database.
public enum SQLiteShell {
    /// The `sqlite3` executable.
    public static var executable: String { ChildProcess.find("sqlite3") ?? "/usr/bin/sqlite3" }

    /// Runs SQL statements or dot-commands (one per argument) on `database`; throws if the shell reports an error.
    @discardableResult
    public static func run(_ database: String, _ commands: String...) throws -> String {
        try run(database, commands)
    }

    /// Runs SQL statements or dot-commands (one per element) on `database`; throws if the shell reports an error.
    @discardableResult
    public static func run(_ database: String, _ commands: [String]) throws -> String {
        let arguments = ["-bail", "-batch", database] + commands
        let output = try ChildProcess.run(executable, arguments)
        guard output.status == 0, output.stderr.isEmpty else {
            throw CommandFailure(command: ["sqlite3"] + arguments, output: output)
        }
        return output.stdout
    }

    /// The rows of `query`, one line each, every value as an SQL literal (so NULL, '' and 0 stay distinct).
    public static func lines(_ database: String, _ query: String) throws -> [String] {
        try run(database, ".mode quote", query).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
    }

    /// One integer, such as a `count(*)`.
    public static func integer(_ database: String, _ query: String) throws -> Int {
        let text = try run(database, query).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Int(text) else {
            throw CommandFailure(
                command: ["sqlite3", database, query], output: .init(status: 0, stdout: text, stderr: "not an integer"))
        }
        return value
    }

    /// `.dump`: the whole database, schema and every row of every table, as SQL text.
    public static func dump(_ database: String) throws -> String {
        try run(database, ".dump")
    }

    /// The tables of `database` (without SQLite's own), sorted by name.
    public static func tables(_ database: String) throws -> [String] {
        try run(
            database,
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        .split(separator: "\n").map(String.init)
    }

    /// The columns of `table`, in declaration order.
    public static func columns(_ database: String, _ table: String) throws -> [String] {
        try run(database, "SELECT name FROM pragma_table_info(\(literal(table))) ORDER BY cid")
            .split(separator: "\n").map(String.init)
    }

    /// The whole content of `database` (schema, then every row of every table in a fixed order) with what
    /// differs between two runs of the same import masked: timestamps (text shaped like `2024-05-01T12:00…`)
    /// and durations (columns named `*duration*` or `*_ms`).
    ///
    /// Two databases that went through the same operations from the same start compare equal; a half-applied
    /// import does not compare equal to a complete one. Tables named in `excluding` are left out (their schema
    /// stays in).
    public static func content(_ database: String, excluding: Set<String> = []) throws -> String {
        var commands = [
            ".mode quote",
            "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
        ]
        for table in try tables(database) where !excluding.contains(table) {
            let columns = try self.columns(database, table)
            let masked = columns.map { column -> String in
                let name = quoted(column)
                let lower = column.lowercased()
                if lower.contains("duration") || lower.hasSuffix("_ms") { return "NULL" }
                return "CASE WHEN typeof(\(name)) = 'text' AND \(name) GLOB "
                    + "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]*' THEN 'TIME' ELSE \(name) END"
            }
            let order = (1...columns.count + 1).map(String.init).joined(separator: ", ")
            commands.append(
                "SELECT \(literal(table)), \(masked.joined(separator: ", ")) FROM \(quoted(table)) ORDER BY \(order)")
        }
        return try run(database, commands)
    }

    /// A short summary for failure messages: each table with its row count.
    public static func summary(_ database: String) -> String {
        guard let tables = try? tables(database) else { return "(unreadable)" }
        return tables.map { table in
            "\(table)=\((try? integer(database, "SELECT count(*) FROM \(quoted(table))")).map(String.init) ?? "?")"
        }.joined(separator: " ")
    }

    /// `name` as an SQL identifier.
    public static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `text` as an SQL string literal.
    public static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Where two long texts first differ, for a failure message that does not print megabytes.
    public static func firstDifference(_ a: String, _ b: String) -> String {
        let left = a.split(separator: "\n", omittingEmptySubsequences: false)
        let right = b.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? String(left[index]) : "(end)"
            let r = index < right.count ? String(right[index]) : "(end)"
            if l != r {
                return
                    "line \(index + 1) (of \(left.count) and \(right.count)): «\(l.prefix(300))» vs «\(r.prefix(300))»"
            }
        }
        return "no difference"
    }
}
