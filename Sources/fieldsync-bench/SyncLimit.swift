import FieldSyncCore
import FieldSyncSQLite

/// The limit a sync phase is held against: the same generated rows, in the same order, inserted with plain SQLite
/// (one prepared `INSERT`, bound values, one transaction) into a fresh database that holds the same table shape and
/// the same indexes and runs with the same journal mode, `synchronous` and `cache_size` settings as the store being
/// measured.
enum SyncLimit {
    /// What the limit copies from the measured store.
    struct Settings: Codable {
        /// `PRAGMA journal_mode` of the store's connection (`delete` at a site, `wal` at the hub).
        var journalMode: String
        /// `PRAGMA synchronous` of the store's connection (0 off, 1 normal, 2 full, 3 extra).
        var synchronous: Int64
        /// `PRAGMA cache_size` of the store's connection (pages, or KiB when negative).
        var cacheSize: Int64
        /// The table's `CREATE TABLE` and `CREATE INDEX` statements from `sqlite_schema`, triggers left out.
        var definition: [String]
        /// The columns the limit inserts, in order.
        var columns: [String]

        /// Reads the settings of `connection` and the definition of `table` from its database.
        init(of connection: SQLiteConnection, table: String, columns: [String]) throws {
            journalMode = try connection.scalar("PRAGMA journal_mode")?.textValue ?? "unknown"
            synchronous = try connection.scalar("PRAGMA synchronous")?.integerValue ?? -1
            cacheSize = try connection.scalar("PRAGMA cache_size")?.integerValue ?? -2000
            definition = try connection.query(
                "SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('table', 'index') "
                    + "AND sql IS NOT NULL ORDER BY type DESC, name", [.text(table)]
            ).compactMap { $0.first?.textValue }
            guard definition.first?.uppercased().hasPrefix("CREATE TABLE") == true else {
                throw BenchError("table \(table) has no definition in \(connection.path)")
            }
            self.columns = columns
        }
    }

    /// Inserts `rows` generated rows into `table` of a fresh database at `path`, with `extra(index)` bound after
    /// each row's own values (the hub's sync columns).
    ///
    /// Timed: preparing the `INSERT`, `BEGIN`, every bind and step, and `COMMIT` (with the WAL auto-checkpoint it
    /// may run). Not timed: creating the database and the table, generating the rows, closing.
    static func insert(
        rows: Int, seed: UInt64, table: String, path: String, settings: Settings,
        extra: (Int) -> [Value] = { _ in [] }, memory: inout PeakMemory
    ) throws -> Phase {
        var blocks = RowBlocks(rows: rows, seed: seed)
        var clock = Stopwatch()
        let database = try SyncRawDatabase(path: path)
        _ = try database.texts("PRAGMA journal_mode = \(settings.journalMode)")
        try database.execute("PRAGMA synchronous = \(settings.synchronous)")
        try database.execute("PRAGMA cache_size = \(settings.cacheSize)")
        for statement in settings.definition { try database.execute(statement) }
        let columns = settings.columns.map(Identifier.quoted).joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: settings.columns.count).joined(separator: ", ")
        memory.reset()
        let start = memory.current()
        let insert = try clock.time { () throws -> SyncRawStatement in
            let insert = try database.prepare(
                "INSERT INTO \(Identifier.quoted(table)) (\(columns)) VALUES (\(placeholders))")
            try database.execute("BEGIN IMMEDIATE")
            return insert
        }
        var index = 0
        while blocks.next() {
            try clock.time {
                for change in blocks.block {
                    try insert.insert(change.values, extra: extra(index))
                    index += 1
                }
            }
        }
        try clock.time { try database.execute("COMMIT") }
        let phase = Phase(
            clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start,
            generationSeconds: blocks.generation.seconds)
        let count = try database.texts("SELECT count(*) FROM \(Identifier.quoted(table))").first
        guard count == String(rows) else {
            throw BenchError("the limit table holds \(count ?? "no") rows, expected \(rows)")
        }
        return phase
    }
}
