import CLibPQ
import FieldSyncCore
import Foundation
import Logging

/// Owns one libpq connection handle (`PGconn`) and closes it (`PQfinish`) when released.
///
/// Kept apart from ``PostgresConnection`` so that the C handle lives in exactly one place.
final class ConnectionHandle {
    let pointer: OpaquePointer

    init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        PQfinish(pointer)
    }
}

/// Owns one libpq result (`PGresult`) and frees it (`PQclear`) when released.
final class ResultHandle {
    let pointer: OpaquePointer

    init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        PQclear(pointer)
    }
}

/// One connection to a PostgreSQL server through libpq.
///
/// Values are always sent as parameters in text format, never spliced into SQL; SQL text is built only from
/// registered schema names, quoted. A connection is used from one thread at a time; the owner serialises access.
public final class PostgresConnection {
    /// A rows-returning result in text format, with the type of each column.
    public struct Rows {
        /// Column type OIDs (`PQftype`).
        public var types: [UInt32]
        /// Each row's values as text; `nil` is SQL NULL.
        public var rows: [[String?]]
    }

    private let handle: ConnectionHandle
    /// Where the connection goes, without the password: for messages.
    public let location: String

    /// Connects (`PQconnectdbParams`) using `conninfo` (a `key=value` string or a `postgresql://` URL; empty for the
    /// PG* environment variables alone), with `overrides` replacing single keywords (for example `dbname`).
    ///
    /// The session is set to UTF-8, ISO dates, UTC, hex `bytea` and exact float output, so that text values read
    /// back are canonical whatever the server's defaults. TLS options (`sslmode`, `sslrootcert`, …) pass through
    /// to libpq unchanged.
    ///
    /// - Throws: ``StoreError`` with `.connection` and libpq's message.
    public init(conninfo: String, overrides: [String: String] = [:]) throws {
        var keywords = ["dbname"]
        var values = [conninfo]
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            keywords.append(key)
            values.append(value)
        }
        keywords.append("fallback_application_name")
        values.append("fieldsync")
        let pointer = Self.withCStrings(keywords) { keywordPointers in
            Self.withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let pointer else {
            throw StoreError(.connection, "cannot allocate a PostgreSQL connection")
        }
        handle = ConnectionHandle(pointer: pointer)
        // libpq prints the server's notices and warnings (`WARNING: terminating connection …`) straight to standard
        // error unless told otherwise; they go to the logger instead (FIELDSYNC_LOG=info shows them), and the
        // failure itself reaches the user as the statement's error.
        PQsetNoticeProcessor(pointer, { _, message in PostgresNotices.log(message) }, nil)
        let host = PQhost(pointer).map { String(cString: $0) } ?? "?"
        let port = PQport(pointer).map { String(cString: $0) } ?? "?"
        let database = PQdb(pointer).map { String(cString: $0) } ?? "?"
        location = "postgresql://\(host):\(port)/\(database)"
        guard PQstatus(pointer) == CONNECTION_OK else {
            throw StoreError(
                .connection, "cannot connect to PostgreSQL: \(Self.oneLine(String(cString: PQerrorMessage(pointer))))",
                location: location)
        }
        try execute(
            "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; "
                + "SET bytea_output = 'hex'; SET extra_float_digits = 1; SET IntervalStyle = 'iso_8601'; "
                + "SET client_min_messages = 'warning'")
    }

    /// Calls `body` with NUL-terminated copies of `strings`, followed by a NULL pointer.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return body(copies.map { UnsafePointer($0) } + [nil])
    }

    private static func trimmed(_ text: String) -> String {
        var text = Substring(text)
        while let last = text.last, last == "\n" || last == " " { text = text.dropLast() }
        return String(text)
    }

    // MARK: Statements

    /// Runs one or more statements without parameters (`PQexec`), ignoring rows.
    public func execute(_ sql: String) throws {
        _ = try check(PQexec(handle.pointer, sql))
    }

    /// Runs `sql` with `parameters` (`PQexecParams`, text format) and returns every row; for small results.
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> Rows {
        try rows(of: try exec(sql, parameters))
    }

    /// Runs `sql` with `parameters`, ignoring rows; returns the number of rows affected (`PQcmdTuples`).
    @discardableResult
    public func run(_ sql: String, _ parameters: [String?] = []) throws -> Int {
        let result = try exec(sql, parameters)
        return Int(String(cString: PQcmdTuples(result.pointer))) ?? 0
    }

    /// The first column of the first row as text, or `nil` (no row, or NULL).
    public func scalar(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try query(sql, parameters).rows.first?.first ?? nil
    }

    /// The first column of the first row as an integer, or `defaultValue`.
    public func integer(_ sql: String, _ parameters: [String?] = [], default defaultValue: Int64 = 0) throws -> Int64 {
        try scalar(sql, parameters).flatMap { Int64($0) } ?? defaultValue
    }

    /// Prepares `sql` under `name` for the session (`PQprepare`).
    public func prepare(_ name: String, _ sql: String) throws -> PostgresStatement {
        _ = try check(PQprepare(handle.pointer, name, sql, 0, nil))
        return PostgresStatement(name: name, connection: self)
    }

    /// Runs a prepared statement (`PQexecPrepared`, text format).
    func executePrepared(_ name: String, _ parameters: [String?]) throws -> ResultHandle {
        let result = try Self.withParameters(parameters) { values in
            PQexecPrepared(handle.pointer, name, Int32(parameters.count), values, nil, nil, 0)
        }
        return try check(result)
    }

    private func exec(_ sql: String, _ parameters: [String?]) throws -> ResultHandle {
        let result = try Self.withParameters(parameters) { values in
            PQexecParams(handle.pointer, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        return try check(result)
    }

    private static func withParameters(
        _ parameters: [String?], _ body: ([UnsafePointer<CChar>?]) -> OpaquePointer?
    ) throws -> OpaquePointer? {
        for case let text? in parameters where text.utf8.contains(0) {
            throw StoreError(.constraint, "a text value contains a NUL character, which PostgreSQL cannot store")
        }
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        return body(copies.map { UnsafePointer($0) })
    }

    func rows(of result: ResultHandle) throws -> Rows {
        let pointer = result.pointer
        let fields = Int32(PQnfields(pointer))
        let count = PQntuples(pointer)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(count))
        for row in 0..<count {
            var values: [String?] = []
            values.reserveCapacity(Int(fields))
            for field in 0..<fields {
                if PQgetisnull(pointer, row, field) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(pointer, row, field))
                    let bytes = UnsafeRawPointer(PQgetvalue(pointer, row, field)!).assumingMemoryBound(to: UInt8.self)
                    values.append(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self))
                }
            }
            rows.append(values)
        }
        return Rows(types: (0..<fields).map { PQftype(pointer, $0) }, rows: rows)
    }

    /// Turns a libpq result into a ``ResultHandle``, or throws the server's error with its SQLSTATE.
    private func check(_ result: OpaquePointer?) throws -> ResultHandle {
        guard let result else {
            throw connectionError(prefix: "the PostgreSQL connection failed")
        }
        let owned = ResultHandle(pointer: result)
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN, PGRES_EMPTY_QUERY:
            return owned
        default:
            throw error(from: result)
        }
    }

    func error(from result: OpaquePointer) -> StoreError {
        let field = { (code: UInt8) -> String? in
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        guard let state = field(UInt8(ascii: "C")) else {
            return connectionError(prefix: "the PostgreSQL connection failed")
        }
        // The primary message only: the detail may quote row values ("Key (code)=(A1) already exists").
        let message = field(UInt8(ascii: "M")) ?? Self.trimmed(String(cString: PQresultErrorMessage(result)))
        return StoreError(Self.code(forSQLState: state), "\(message) (SQLSTATE \(state))", location: location)
    }

    private func connectionError(prefix: String) -> StoreError {
        StoreError(
            .connection, "\(prefix): \(Self.oneLine(String(cString: PQerrorMessage(handle.pointer))))",
            location: location)
    }

    /// libpq's connection message (`PQerrorMessage`) as one line for an `error:` line: severity prefixes
    /// (`FATAL:  `) dropped, `CONTEXT`, `DETAIL` and `HINT` lines left out (they may quote SQL or row values),
    /// tab-indented continuation lines joined to their line, the rest joined with "; ".
    static func oneLine(_ message: String) -> String {
        let severities = ["FATAL:", "ERROR:", "PANIC:", "WARNING:"]
        var lines: [String] = []
        // Inside a CONTEXT (or DETAIL, HINT) block: its further lines start with a capital ("PL/pgSQL function …");
        // libpq's own messages start lowercase ("server closed the connection unexpectedly").
        var skipping = false
        for raw in message.split(whereSeparator: \.isNewline) {
            if raw.first == "\t" || raw.first == " " {
                if !skipping, !lines.isEmpty {
                    lines[lines.count - 1] += " " + raw.trimmingCharacters(in: .whitespaces)
                }
                continue
            }
            var line = raw.trimmingCharacters(in: .whitespaces)
            if ["CONTEXT:", "DETAIL:", "HINT:", "QUERY:", "LOCATION:"].contains(where: { line.hasPrefix($0) }) {
                skipping = true
                continue
            }
            if skipping, !severities.contains(where: { line.hasPrefix($0) }), line.first?.isLowercase != true {
                continue
            }
            skipping = false
            for severity in severities where line.hasPrefix(severity) {
                line = String(line.dropFirst(severity.count)).trimmingCharacters(in: .whitespaces)
            }
            if !line.isEmpty { lines.append(line) }
        }
        return lines.joined(separator: "; ")
    }

    /// The ``StoreError/Code`` for a SQLSTATE: integrity violations (class 23) and data exceptions (class 22: a
    /// value its column cannot take) are the row's fault; class 08 and shutdowns are the connection's.
    static func code(forSQLState state: String) -> StoreError.Code {
        switch state.prefix(2) {
        case "22", "23": return .constraint
        case "08", "57": return state == "57014" ? .statement : .connection
        case "40", "55": return state == "40001" || state == "40P01" || state == "55P03" ? .busy : .statement
        case "3F", "42": return state == "42P01" || state == "42703" || state == "3F000" ? .schema : .statement
        default: return .statement
        }
    }

    /// Whether the connection is still usable (`PQstatus`).
    public var isConnected: Bool { PQstatus(handle.pointer) == CONNECTION_OK }

    // MARK: Transactions

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`), rolled back if `body` throws.
    public func withTransaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` under a savepoint, rolled back to it (and released) if `body` throws.
    public func withSavepoint<R>(_ name: String, _ body: () throws -> R) throws -> R {
        try execute("SAVEPOINT \(Identifier.quoted(name))")
        do {
            let result = try body()
            try execute("RELEASE SAVEPOINT \(Identifier.quoted(name))")
            return result
        } catch {
            try? execute("ROLLBACK TO SAVEPOINT \(Identifier.quoted(name))")
            try? execute("RELEASE SAVEPOINT \(Identifier.quoted(name))")
            throw error
        }
    }

    /// Waits for the transaction-scoped advisory lock `key` (`pg_advisory_xact_lock`), released at commit or rollback.
    public func advisoryTransactionLock(_ key: String) throws {
        try run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [key])
    }

    /// Takes the transaction-scoped advisory lock `key` if it is free (`pg_try_advisory_xact_lock`).
    public func tryAdvisoryTransactionLock(_ key: String) throws -> Bool {
        try scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", [key]) == "t"
    }

    // MARK: COPY and cursors

    /// Streams data into `COPY … FROM STDIN` (`sql`): `body` gets a writer for the COPY text; returns the number
    /// of rows copied. `PQputCopyData` / `PQputCopyEnd` / `PQgetResult`.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (CopyWriter) throws -> Void) throws -> Int {
        _ = try check(PQexec(handle.pointer, sql))
        let writer = CopyWriter(connection: self)
        var failure: (any Error)?
        do {
            try body(writer)
            try writer.flush()
        } catch {
            failure = error
        }
        let end = PQputCopyEnd(handle.pointer, failure == nil ? nil : "aborted by FieldSync")
        var copied = 0
        var serverError: StoreError?
        while let result = PQgetResult(handle.pointer) {
            let owned = ResultHandle(pointer: result)
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = Int(String(cString: PQcmdTuples(owned.pointer))) ?? 0
            } else if serverError == nil {
                serverError = error(from: result)
            }
        }
        if let failure { throw failure }
        if end != 1 { throw connectionError(prefix: "COPY failed") }
        if let serverError { throw serverError }
        return copied
    }

    func putCopyData(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        let result = PQputCopyData(
            handle.pointer, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        if result != 1 { throw connectionError(prefix: "COPY failed") }
    }

    /// Reads the rows of `sql` through a server-side cursor, `batch` rows per `FETCH`, calling `body` with each.
    /// Must run inside a transaction; the cursor is closed on every path. Memory stays bounded by `batch`.
    public func withCursor(
        _ sql: String, _ parameters: [String?], batch: Int = 1000, _ body: (Rows, Int) throws -> Void
    ) throws {
        let name = "fieldsync_cursor"
        try run("DECLARE \(name) NO SCROLL CURSOR FOR \(sql)", parameters)
        defer { try? execute("CLOSE \(name)") }
        while true {
            let rows = try query("FETCH FORWARD \(batch) FROM \(name)")
            if rows.rows.isEmpty { break }
            for index in rows.rows.indices { try body(rows, index) }
        }
    }
}

/// A statement prepared on one connection; runs with new parameters each time.
public final class PostgresStatement {
    public let name: String
    let connection: PostgresConnection

    init(name: String, connection: PostgresConnection) {
        self.name = name
        self.connection = connection
    }

    /// Runs the statement and returns its rows.
    public func query(_ parameters: [String?]) throws -> PostgresConnection.Rows {
        try connection.rows(of: try connection.executePrepared(name, parameters))
    }

    /// Runs the statement; returns the number of rows affected.
    @discardableResult
    public func run(_ parameters: [String?]) throws -> Int {
        let result = try connection.executePrepared(name, parameters)
        return Int(String(cString: PQcmdTuples(result.pointer))) ?? 0
    }
}

/// Buffers COPY text and hands it to libpq in chunks of about 1 MiB.
public final class CopyWriter {
    private let connection: PostgresConnection
    private var buffer: [UInt8] = []
    private let chunk = 1 << 20

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(chunk + 4096)
    }

    /// Appends one row: fields separated by tabs, `nil` as `\N`, with COPY text escapes.
    public func row(_ fields: [String?]) throws {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard let field else {
                buffer.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            for byte in field.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [92, 92])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [92, UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [92, UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [92, UInt8(ascii: "r")])
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= chunk { try flush() }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { try connection.putCopyData($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Where the server's notices and warnings go: the `fieldsync.postgres` logger at level `info`.
enum PostgresNotices {
    static let logger = Logger(label: "fieldsync.postgres")

    /// Logs one notice (`PQnoticeProcessor`), without its trailing newline.
    static func log(_ message: UnsafePointer<CChar>?) {
        guard let message else { return }
        var text = Substring(String(cString: message))
        while let last = text.last, last == "\n" || last == " " { text = text.dropLast() }
        logger.info("postgres.notice", metadata: ["fieldsync.postgres.notice": .string(String(text))])
    }
}
