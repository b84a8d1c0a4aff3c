import FieldSyncCore
import FieldSyncPostgres
import Foundation

extension TestPostgres {
    /// A `postgresql://` URL for this test's database (the server URL with the database name swapped in), as
    /// `fieldsync hub init --store` takes it.
    public var url: String { Self.url(serverURL, database: name) }

    /// `server` with its database replaced by `database`.
    static func url(_ server: String, database: String) -> String {
        guard var components = URLComponents(string: server) else { return server }
        components.path = "/" + database
        return components.string ?? server
    }

    /// Waits until no session other than the caller's is connected to this test's database (a killed client's
    /// server process may run on until it notices), or `timeout` seconds have passed; returns whether it is idle.
    @discardableResult
    public func waitUntilIdle(timeout: Double = 30) throws -> Bool {
        try Self.waitUntilIdle(server: serverURL, database: name, timeout: timeout)
    }
}

extension TestPostgres {
    static func waitUntilIdle(server: String, database: String, timeout: Double) throws -> Bool {
        let admin = try PostgresConnection(conninfo: server)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let others = try admin.integer(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database])
            if others == 0 { return true }
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}

/// A copy of a ``TestPostgres`` database (`CREATE DATABASE … TEMPLATE …`), dropped when released. The original
/// must have no connections while it is copied.
public final class TestPostgresCopy: @unchecked Sendable {
    // @unchecked: every property is immutable; the database is only touched by the owning test.

    public let serverURL: String
    public let name: String

    public init(of original: TestPostgres) throws {
        serverURL = original.serverURL
        name = original.name + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
        let admin = try PostgresConnection(conninfo: serverURL)
        try admin.execute(
            "CREATE DATABASE \(Identifier.quoted(name)) TEMPLATE \(Identifier.quoted(original.name))")
    }

    deinit {
        guard let admin = try? PostgresConnection(conninfo: serverURL) else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(Identifier.quoted(name)) WITH (FORCE)")
    }

    /// A `postgresql://` URL for the copy.
    public var url: String { TestPostgres.url(serverURL, database: name) }

    /// A new connection to the copy.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection(conninfo: serverURL, overrides: ["dbname": name])
    }

    /// Waits until no other session is connected to the copy; see ``TestPostgres/waitUntilIdle(timeout:)``.
    @discardableResult
    public func waitUntilIdle(timeout: Double = 30) throws -> Bool {
        try TestPostgres.waitUntilIdle(server: serverURL, database: name, timeout: timeout)
    }
}
