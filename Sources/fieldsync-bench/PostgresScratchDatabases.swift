import FieldSyncCore
import FieldSyncPostgres
import Foundation

/// Fresh databases on one server, created on demand and dropped (`WITH (FORCE)`) at the end of the run.
final class PostgresScratchDatabases {
    let conninfo: String
    let admin: PostgresConnection
    let serverVersion: String
    private var created: [String] = []
    private let prefix: String

    init(conninfo: String) throws {
        self.conninfo = conninfo
        admin = try PostgresConnection(conninfo: conninfo)
        serverVersion = try admin.scalar("SHOW server_version") ?? "unknown"
        prefix = "fieldsync_bench_\(getpid())_"
    }

    /// Creates a new empty database and returns the store configuration that reaches it.
    func create(_ name: String) throws -> PostgresHubStore.Configuration {
        let database = prefix + name
        try admin.execute("DROP DATABASE IF EXISTS \(Identifier.quoted(database)) WITH (FORCE)")
        try admin.execute("CREATE DATABASE \(Identifier.quoted(database))")
        created.append(database)
        return PostgresHubStore.Configuration(conninfo: conninfo, overrides: ["dbname": database])
    }

    func dropAll() {
        for database in created.reversed() {
            try? admin.execute("DROP DATABASE IF EXISTS \(Identifier.quoted(database)) WITH (FORCE)")
        }
        created = []
    }
}

/// The raw limit: the same rows as `COPY … FROM STDIN` text, with the sync columns a hub row carries.
enum PostgresRawCopy {
    static let syncColumns = ["sync_version", "sync_modified_at", "sync_deleted", "sync_origin_client"]

    /// The COPY fields of every row (generation done before any timing).
    static func fields(rows: Int, seed: UInt64, updated: Bool, origin: String?) -> [[String?]] {
        var out: [[String?]] = []
        out.reserveCapacity(rows)
        var blocks = RowBlocks(rows: rows, seed: seed)
        var index = 0
        while blocks.next() {
            for change in blocks.block {
                var values = change.values
                if updated, case .integer(let size) = values[4] { values[4] = .integer(size + 1) }
                index += 1
                out.append(
                    values.map(PostgresTypes.parameter) + [String(index), "2024-01-01 00:00:00+00", "f", origin])
            }
        }
        return out
    }

    /// A table shaped like `source` (columns, defaults, primary key, sync_version index), without its triggers.
    static func createLike(_ connection: PostgresConnection, table: String, source: String) throws {
        try connection.execute(
            "DROP TABLE IF EXISTS \(Identifier.quoted(table)); CREATE TABLE \(Identifier.quoted(table)) "
                + "(LIKE \(Identifier.quoted(source)) INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    }

    /// One `COPY … FROM STDIN` of `fields` into `table`, in one transaction; timed on `clock`.
    static func copy(
        _ connection: PostgresConnection, table: String, fields: [[String?]], withSyncColumns: Bool,
        clock: inout Stopwatch
    ) throws -> Int {
        var columns = BeneficiaryGenerator.schema.columns.map { Identifier.quoted($0.name) }
        if withSyncColumns { columns += syncColumns }
        let sql = "COPY \(Identifier.quoted(table)) (\(columns.joined(separator: ", "))) FROM STDIN"
        let width = columns.count
        return try clock.time {
            try connection.withTransaction {
                try connection.copyIn(sql) { writer in
                    for row in fields { try writer.row(row.count == width ? row : Array(row.prefix(width))) }
                }
            }
        }
    }
}
