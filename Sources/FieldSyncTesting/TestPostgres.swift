import FieldSyncCore
import FieldSyncPostgres
import Foundation

/// A fresh PostgreSQL database for one test, on the server that `make test` (`scripts/with-postgres.sh`) starts,
/// dropped when the value is released. Tests each make their own, so they run in parallel.
public final class TestPostgres: @unchecked Sendable {
    // @unchecked: every property is immutable; the database is only touched by the owning test.

    /// The environment variable holding the server's URL (`postgresql://postgres@127.0.0.1:54329/postgres`).
    public static let environmentVariable = "FIELDSYNC_TEST_POSTGRES_URL"

    /// The server's URL, when the tests run against one.
    public static var serverURL: String? {
        ProcessInfo.processInfo.environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether a PostgreSQL server is available; PostgreSQL tests are skipped (`.enabled(if:)`) without one.
    public static var isAvailable: Bool { serverURL != nil }

    /// Why PostgreSQL tests are skipped.
    public static let skipMessage =
        "no PostgreSQL server: set FIELDSYNC_TEST_POSTGRES_URL, or run through 'make test' or scripts/with-postgres.sh"

    /// The server URL (pointing at the maintenance database).
    public let serverURL: String
    /// The name of this test's database.
    public let name: String

    /// Creates a database with a random name.
    ///
    /// - Throws: ``StoreError`` when no server is configured or it cannot be reached.
    public init() throws {
        guard let url = Self.serverURL else {
            throw StoreError(.connection, "no PostgreSQL server for tests (\(Self.environmentVariable) is not set)")
        }
        serverURL = url
        name = "fieldsync_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PostgresConnection(conninfo: url)
        try admin.execute("CREATE DATABASE \(Identifier.quoted(name))")
    }

    deinit {
        guard let admin = try? PostgresConnection(conninfo: serverURL) else { return }
        try? admin.execute("DROP DATABASE IF EXISTS \(Identifier.quoted(name)) WITH (FORCE)")
    }

    /// A new connection to this test's database.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection(conninfo: serverURL, overrides: ["dbname": name])
    }

    /// A hub store configuration for this test's database. By default every batch tries the COPY path first, so
    /// that tests exercise it.
    public func configuration(watermarkWait: Duration = .seconds(5), copyThreshold: Int = 1)
        -> PostgresHubStore.Configuration
    {
        .init(
            conninfo: serverURL, overrides: ["dbname": name], watermarkWait: watermarkWait,
            copyThreshold: copyThreshold)
    }
}
