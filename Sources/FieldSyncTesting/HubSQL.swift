import FieldSyncCore
import FieldSyncPostgres
import FieldSyncSQLite

/// The hub's database as HQ staff reach it (the `sqlite3` shell or `psql`), for tests that run against both
/// hub stores: plain SQL that both dialects accept.
public protocol HubSQL: AnyObject {
    /// Runs one or more statements.
    func execute(_ sql: String) throws
    /// Every row of `sql`. PostgreSQL values come back as the embedded store holds them: integers, reals, text,
    /// blobs, and booleans as 1 or 0.
    func query(_ sql: String) throws -> [[Value]]
}

extension HubSQL {
    /// The first column of the first row, or `nil`.
    public func scalar(_ sql: String) throws -> Value? {
        try query(sql).first?.first
    }
}

/// ``HubSQL`` over a SQLite connection to the embedded hub store.
public final class SQLiteHubSQL: HubSQL {
    public let connection: SQLiteConnection

    public init(connection: SQLiteConnection) {
        self.connection = connection
    }

    public func execute(_ sql: String) throws {
        try connection.execute(sql)
    }

    public func query(_ sql: String) throws -> [[Value]] {
        try connection.query(sql)
    }
}

/// ``HubSQL`` over a libpq connection to the PostgreSQL hub's database.
public final class PostgresHubSQL: HubSQL {
    public let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    public func execute(_ sql: String) throws {
        try connection.execute(sql)
    }

    public func query(_ sql: String) throws -> [[Value]] {
        let result = try connection.query(sql)
        return result.rows.map { row in
            row.enumerated().map { PostgresTypes.value($1, oid: result.types[$0]) }
        }
    }
}

/// Which hub store a ``SyncWorld`` runs on.
public enum HubStoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The kinds that can run here: PostgreSQL only when a test server is configured.
    public static var available: [HubStoreKind] {
        TestPostgres.isAvailable ? [.sqlite, .postgres] : [.sqlite]
    }
}
