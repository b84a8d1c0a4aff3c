import CSQLite
import FieldSyncCore

/// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs before the call returns.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One connection to a SQLite database file (`sqlite3_open_v2`), closed when released.
///
/// A connection is used from one thread at a time; the owner serialises access.
public final class SQLiteConnection {
    /// The database file.
    public let path: String
    let handle: OpaquePointer

    /// Opens (and by default creates) the database at `path` with foreign keys on and a busy timeout.
    ///
    /// - Parameters:
    ///   - readOnly: open without write access.
    ///   - busyTimeout: milliseconds to wait for another process's lock before failing with `.busy`.
    /// - Throws: ``StoreError`` with `.open`.
    public init(path: String, readOnly: Bool = false, create: Bool = true, busyTimeout: Int32 = 10_000) throws {
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0))
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_close_v2(handle)
            throw StoreError(.open, "cannot open SQLite database: \(message)", location: path)
        }
        self.path = path
        self.handle = handle
        sqlite3_busy_timeout(handle, busyTimeout)
        sqlite3_extended_result_codes(handle, 1)
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows (`sqlite3_exec`).
    public func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &error)
        if result != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_free(error)
            throw storeError(result, message: message)
        }
    }

    /// Prepares one statement (`sqlite3_prepare_v3`).
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let result = sqlite3_prepare_v3(handle, sql, -1, 0, &statement, nil)
        guard result == SQLITE_OK, let statement else {
            throw storeError(result, message: "cannot prepare statement: \(lastMessage)")
        }
        return SQLiteStatement(statement: statement, connection: self)
    }

    /// Runs `sql` with `arguments` and returns every row; for small results only.
    public func query(_ sql: String, _ arguments: [Value] = []) throws -> [[Value]] {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        var rows: [[Value]] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    /// Runs `sql` with `arguments`, ignoring any rows; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ arguments: [Value] = []) throws -> Int {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        while try statement.step() {}
        return Int(sqlite3_changes64(handle))
    }

    /// The first column of the first row, or `nil` when there is no row.
    public func scalar(_ sql: String, _ arguments: [Value] = []) throws -> Value? {
        try query(sql, arguments).first?.first
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` … `COMMIT`), rolled back if `body` throws.
    ///
    /// `IMMEDIATE` takes the write lock at the start, so two writers wait for each other instead of failing
    /// half-way with a lock upgrade error.
    public func withTransaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Row id of the last insert.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    var lastMessage: String { String(cString: sqlite3_errmsg(handle)) }

    func storeError(_ result: Int32, message: String) -> StoreError {
        let primary = result & 0xff
        let code: StoreError.Code =
            switch primary {
            // A value the column refuses (STRICT tables) or one too big is the row's fault too.
            case SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_TOOBIG: .constraint
            case SQLITE_BUSY, SQLITE_LOCKED: .busy
            default: .statement
            }
        return StoreError(code, message, location: path)
    }
}

/// A prepared statement (`sqlite3_stmt`), finalised when released.
public final class SQLiteStatement {
    let statement: OpaquePointer
    let connection: SQLiteConnection

    init(statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(statement)
    }

    /// Clears previous bindings and binds `values` to parameters 1…n.
    public func bind(_ values: [Value]) throws {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (index, value) in values.enumerated() {
            try bind(value, at: Int32(index + 1))
        }
    }

    /// Binds one value to the 1-based parameter `index`.
    public func bind(_ value: Value, at index: Int32) throws {
        let result: Int32
        switch value {
        case .null:
            result = sqlite3_bind_null(statement, index)
        case .integer(let number):
            result = sqlite3_bind_int64(statement, index, number)
        case .real(let number):
            result = sqlite3_bind_double(statement, index, number)
        case .text(let text):
            // The explicit length keeps any NUL characters inside the text.
            let length = UInt64(text.utf8.count)
            result = text.withCString {
                sqlite3_bind_text64(statement, index, $0, length, sqliteTransient, UInt8(SQLITE_UTF8))
            }
        case .blob(let bytes):
            if bytes.isEmpty {
                // A NULL pointer would bind SQL NULL; an empty blob must stay an empty blob.
                result = sqlite3_bind_zeroblob(statement, index, 0)
            } else {
                result = bytes.withUnsafeBytes {
                    sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), sqliteTransient)
                }
            }
        }
        guard result == SQLITE_OK else {
            throw connection.storeError(result, message: "cannot bind parameter \(index): \(connection.lastMessage)")
        }
    }

    /// Advances to the next row; false when done (`sqlite3_step`).
    public func step() throws -> Bool {
        let result = sqlite3_step(statement)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = connection.lastMessage
            sqlite3_reset(statement)
            throw connection.storeError(result, message: message)
        }
    }

    /// Resets the statement so it can run again with new bindings.
    public func reset() {
        sqlite3_reset(statement)
    }

    /// Number of result columns.
    public var columnCount: Int { Int(sqlite3_column_count(statement)) }

    /// The value of result column `index` of the current row, by its storage class.
    public func value(at index: Int) -> Value {
        let column = Int32(index)
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let pointer = sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default:
            return .null
        }
    }

    /// All columns of the current row.
    public func row() -> [Value] {
        (0..<columnCount).map { value(at: $0) }
    }
}
