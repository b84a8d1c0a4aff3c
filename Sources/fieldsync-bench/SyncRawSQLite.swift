import CSQLite
import FieldSyncCore

/// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns, as the library's own binding does.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A plain SQLite connection for the limits of `fieldsync-bench sync`: the C API with nothing of FieldSync in the
/// way (no triggers, no bookkeeping, no `Value` arrays rebuilt per row), closed when released.
///
/// It is opened with the same flags as the library's `SQLiteConnection` (`sqlite3_open_v2` with
/// `SQLITE_OPEN_FULLMUTEX`), so the comparison does not hinge on mutex settings. Also used, untimed, to fill the
/// sites' application tables quickly.
final class SyncRawDatabase {
    let path: String
    fileprivate let handle: OpaquePointer

    /// Opens or creates the database at `path` (`sqlite3_open_v2`).
    init(path: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI
        let result = sqlite3_open_v2(path, &handle, flags, nil)
        guard result == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_close_v2(handle)
            throw BenchError("cannot open SQLite database \(path): \(message)")
        }
        self.path = path
        self.handle = handle
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs statements that return no rows (`sqlite3_exec`).
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let result = sqlite3_exec(handle, sql, nil, nil, &error)
        if result != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_free(error)
            throw BenchError("SQLite (\(path)): \(message)")
        }
    }

    /// Prepares one statement (`sqlite3_prepare_v3`).
    func prepare(_ sql: String) throws -> SyncRawStatement {
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, 0, &statement, nil), "prepare")
        guard let statement else { throw BenchError("SQLite (\(path)): empty statement") }
        return SyncRawStatement(statement: statement, database: self)
    }

    /// The first column of every row, as text (`NULL` as an empty string).
    func texts(_ sql: String) throws -> [String] {
        let statement = try prepare(sql)
        var texts: [String] = []
        while try statement.step() { texts.append(statement.text(at: 0)) }
        return texts
    }

    /// Turns a return code into a ``BenchError`` with SQLite's message.
    fileprivate func check(_ result: Int32, _ what: String) throws {
        guard result == SQLITE_OK else { throw BenchError("SQLite \(what) (\(path)): \(message)") }
    }

    fileprivate var message: String { String(cString: sqlite3_errmsg(handle)) }

}

/// A prepared statement of a ``SyncRawDatabase``, finalised when released.
final class SyncRawStatement {
    private let statement: OpaquePointer
    private let database: SyncRawDatabase

    fileprivate init(statement: OpaquePointer, database: SyncRawDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    /// Binds `values` to parameters 1…n, then `extra` after them, runs the statement to completion and resets it.
    func insert(_ values: [Value], extra: [Value] = []) throws {
        var index: Int32 = 1
        for value in values {
            try bind(value, at: index)
            index += 1
        }
        for value in extra {
            try bind(value, at: index)
            index += 1
        }
        while try step() {}
        sqlite3_reset(statement)
    }

    /// Binds one value (`sqlite3_bind_*`); text is bound with its byte length and copied by SQLite.
    func bind(_ value: Value, at index: Int32) throws {
        let result: Int32
        switch value {
        case .null:
            result = sqlite3_bind_null(statement, index)
        case .integer(let number):
            result = sqlite3_bind_int64(statement, index, number)
        case .real(let number):
            result = sqlite3_bind_double(statement, index, number)
        case .text(var text):
            // Bound straight from the string's UTF-8 storage, with its length (any NUL inside is kept).
            result = text.withUTF8 { bytes in
                guard let base = bytes.baseAddress else {
                    return sqlite3_bind_text64(statement, index, "", 0, transient, UInt8(SQLITE_UTF8))
                }
                return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    sqlite3_bind_text64(statement, index, $0, UInt64(bytes.count), transient, UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let bytes):
            // A NULL pointer would bind SQL NULL; an empty blob stays an empty blob.
            result =
                bytes.isEmpty
                ? sqlite3_bind_zeroblob(statement, index, 0)
                : bytes.withUnsafeBytes {
                    sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), transient)
                }
        }
        try database.check(result, "bind")
    }

    /// Advances to the next row; false when done (`sqlite3_step`).
    func step() throws -> Bool {
        let result = sqlite3_step(statement)
        if result == SQLITE_ROW { return true }
        if result == SQLITE_DONE { return false }
        let error = BenchError("SQLite step (\(database.path)): \(database.message)")
        sqlite3_reset(statement)
        throw error
    }

    /// Column `index` of the current row as text.
    func text(at index: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, index) else { return "" }
        return String(cString: pointer)
    }
}
