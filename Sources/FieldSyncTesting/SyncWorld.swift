import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncPostgres
import FieldSyncSQLite
import FieldSyncSite
import Foundation
import Logging

/// A hub and some sites in one temporary directory, exchanging real bundle files through the library.
///
/// Each site has its own application database (created by `schema`), tracked with capture triggers; the hub is
/// an embedded SQLite store (or, with `hub: .postgres`, a PostgreSQL store in a fresh database) with the same
/// tables. `exchangeRounds` moves every bundle both ways.
public final class SyncWorld {
    public struct Site {
        public let id: String
        public let engine: SiteEngine
        /// The site's keys, for tests that sign bundles as the site.
        public let keys: NodeKeys
        /// A separate connection, as the field application would have.
        public let database: SQLiteConnection
        public let path: String
    }

    public let directory: TemporaryDirectory
    public let hub: HubEngine
    /// The hub's keys, for tests that sign bundles as the hub.
    public let hubKeys: NodeKeys
    /// Which store the hub runs on.
    public let hubKind: HubStoreKind
    public let hubStore: any HubStore
    /// A separate connection to the embedded hub store, as HQ staff would have; `nil` for a PostgreSQL hub
    /// (use ``hubSQL``, which works with both).
    public let hubDatabase: SQLiteConnection!
    /// A separate connection to the hub's database, as HQ staff would have, whichever the store.
    public let hubSQL: any HubSQL
    /// The PostgreSQL database of a `.postgres` hub, dropped with the world.
    public let postgres: TestPostgres?
    public private(set) var sites: [Site] = []

    /// Creates the hub and `siteIDs`, with `schema` run on every site database and tables declared at the hub.
    ///
    /// - Parameters:
    ///   - quiet: log only warnings and errors (for tests that exchange hundreds of bundles).
    ///   - hub: the hub store: the embedded SQLite store (default), or PostgreSQL in a fresh database on the
    ///     server of `FIELDSYNC_TEST_POSTGRES_URL`.
    public init(
        sites siteIDs: [String], quiet: Bool = false, hub kind: HubStoreKind = .sqlite,
        schema: (SQLiteConnection) throws -> Void
    ) throws {
        directory = try TemporaryDirectory(prefix: "fieldsync-world")
        var hubLogger = Logger(label: "fieldsync.hub")
        var siteLogger = Logger(label: "fieldsync.site")
        if quiet {
            hubLogger.logLevel = .warning
            siteLogger.logLevel = .warning
        }
        let hubKeys = try NodeKeys.generate(id: "hub")
        self.hubKeys = hubKeys
        hubKind = kind
        switch kind {
        case .sqlite:
            let hubPath = directory.file("hub.sqlite")
            hubStore = try SQLiteHubStore.create(path: hubPath, hubID: "hub")
            let database = try SQLiteConnection(path: hubPath)
            hubDatabase = database
            hubSQL = SQLiteHubSQL(connection: database)
            postgres = nil
        case .postgres:
            let database = try TestPostgres()
            hubStore = try PostgresHubStore.create(configuration: database.configuration(), hubID: "hub")
            hubDatabase = nil
            hubSQL = PostgresHubSQL(connection: try database.connect())
            postgres = database
        }
        hub = try HubEngine(store: hubStore, keys: hubKeys, logger: hubLogger)
        var declared = false
        for id in siteIDs {
            let path = directory.file("\(id).sqlite")
            let app = try SQLiteConnection(path: path)
            try schema(app)
            if !declared {
                for name in try SQLiteSchema.tableNames(in: app) {
                    try hubStore.addTable(name: name, schema: try SQLiteSchema.read(table: name, from: app))
                }
                declared = true
            }
            let keys = try NodeKeys.generate(id: id)
            let store = try SiteStore.install(path: path, siteID: id, hubID: "hub", tables: nil)
            try hubStore.registerSite(id: id, name: id, publicKey: keys.identity.line)
            _ = try directory.directory("outbox/\(id)")
            _ = try directory.directory("return/\(id)")
            sites.append(
                Site(
                    id: id, engine: try SiteEngine(store: store, keys: keys, hub: hubKeys.identity, logger: siteLogger),
                    keys: keys, database: app,
                    path: path))
        }
    }

    public func site(_ id: String) -> Site {
        sites.first { $0.id == id }!
    }

    /// Writes a delta bundle from `site`; returns its part paths.
    public func exportSite(_ id: String) throws -> [String] {
        try site(id).engine.export(
            template: .init(kind: .delta, sequence: 0, directory: directory.file("outbox/\(id)"))
        ).bundle.paths
    }

    /// Writes a return bundle for `site`; returns its part paths.
    public func exportReturn(_ id: String) throws -> [String] {
        try hub.exportReturn(
            for: id, template: .init(kind: .return, sequence: 0, directory: directory.file("return/\(id)"))
        ).bundle.paths
    }

    /// Every site exports, the hub imports all, writes returns, every site imports: `count` times.
    public func exchangeRounds(_ count: Int) throws {
        for _ in 0..<count {
            var bundles: [[String]] = []
            for site in sites { bundles.append(try exportSite(site.id)) }
            for paths in bundles { _ = try hub.importBundle(paths: paths) }
            for site in sites { _ = try site.engine.importBundle(paths: try exportReturn(site.id)) }
        }
    }

    /// The live rows of `table` at the hub (no tombstones, no sync columns), ordered by primary key.
    public func hubRows(_ table: String) throws -> [[Value]] {
        let schema = try hubStore.tables().first { $0.name == table }!
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let order = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        return try hubSQL.query(
            "SELECT \(columns) FROM \(Identifier.quoted(table)) WHERE NOT sync_deleted ORDER BY \(order)")
    }

    /// The rows of `table` at `site`, in the hub's column order, ordered by primary key.
    public func siteRows(_ site: String, _ table: String) throws -> [[Value]] {
        let schema = try hubStore.tables().first { $0.name == table }!
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let order = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        return try self.site(site).database.query(
            "SELECT \(columns) FROM \(Identifier.quoted(table)) ORDER BY \(order)")
    }

    /// Throws unless every site holds exactly the hub's live rows in every table.
    public func expectConverged() throws {
        for table in try hubStore.tables() {
            let hubRows = try hubRows(table.name)
            for site in sites {
                let rows = try siteRows(site.id, table.name)
                guard rows.count == hubRows.count,
                    zip(rows, hubRows).allSatisfy({ zip($0, $1).allSatisfy { $0.isSameValue(as: $1) } })
                else {
                    throw WorldError(
                        message:
                            "table \(table.name): site \(site.id) has \(rows.count) rows, the hub \(hubRows.count); "
                            + "first difference at row \(zip(rows, hubRows).enumerated().first { $1.0 != $1.1 }?.offset ?? min(rows.count, hubRows.count))"
                    )
                }
            }
        }
    }
}

public struct WorldError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
