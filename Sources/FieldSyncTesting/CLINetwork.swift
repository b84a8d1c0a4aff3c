import Foundation

/// A hub and sites in one temporary directory, set up and exchanging bundles only through the real `fieldsync`
/// binary, with their databases edited through the `sqlite3` shell.
///
/// Layout: `hub/` (node directory, store `hub/hub.sqlite`), `SITE/` (node directory) with the application
/// database `SITE.sqlite` beside it, and bundle folders `out/SITE/` (site to hub) and `ret/SITE/` (hub to site).
public final class CLINetwork {
    public let directory: TemporaryDirectory
    public let hubID: String
    public private(set) var siteIDs: [String] = []

    /// Runs `fieldsync hub init` in a fresh directory, with the embedded store or, given `store`, that one (for
    /// example ``TestPostgres/url``).
    public init(hub: String = "hub", prefix: String = "fieldsync-cli", store: String? = nil) throws {
        directory = try TemporaryDirectory(prefix: prefix)
        hubID = hub
        try succeed(["hub", "init", "--dir", hubDirectory, "--id", hub] + (store.map { ["--store", $0] } ?? []))
    }

    public var hubDirectory: String { directory.file("hub") }
    public var hubStore: String { directory.file("hub/hub.sqlite") }
    public var hubPublicKey: String { directory.file("hub/keys/\(hubID).pub") }
    public func siteDirectory(_ site: String) -> String { directory.file(site) }
    public func siteDatabase(_ site: String) -> String { directory.file("\(site).sqlite") }

    /// Runs `fieldsync ARGUMENTS…` in the network's directory, whatever its exit status.
    public func fieldsync(_ arguments: [String]) throws -> FieldSyncCommand.Output {
        try FieldSyncCommand.run(arguments, in: directory.path)
    }

    /// Runs `fieldsync ARGUMENTS…` and throws ``CommandFailure`` unless it exits 0.
    @discardableResult
    public func succeed(_ arguments: [String]) throws -> FieldSyncCommand.Output {
        let output = try fieldsync(arguments)
        guard output.status == 0 else {
            throw CommandFailure(
                command: ["fieldsync"] + arguments,
                output: .init(status: output.status, stdout: output.stdout, stderr: output.stderr))
        }
        return output
    }

    /// Creates `SITE.sqlite` with the `sqlite3` shell running `schema` (tables and any rows), then runs
    /// `fieldsync site init` on it and `fieldsync hub add-site` with its public key.
    ///
    /// - Returns: what `site init` printed.
    @discardableResult
    public func addSite(_ site: String, schema: String) throws -> FieldSyncCommand.Output {
        try SQLiteShell.run(siteDatabase(site), schema)
        let output = try succeed([
            "site", "init", "--dir", siteDirectory(site), "--id", site, "--db", siteDatabase(site),
            "--hub-public-key", hubPublicKey,
        ])
        try succeed([
            "hub", "add-site", "--dir", hubDirectory, site, "--public-key",
            directory.file("\(site)/keys/\(site).pub"),
        ])
        siteIDs.append(site)
        return output
    }

    /// `fieldsync bundle export` at `site` into `out/SITE/`; returns the bundle file.
    public func exportSite(_ site: String) throws -> String {
        let folder = try directory.directory("out/\(site)")
        return try singleFile(succeed(["bundle", "export", "--dir", siteDirectory(site), "--out", folder, "--json"]))
    }

    /// `fieldsync bundle export --site SITE` at the hub into `ret/SITE/`; returns the return bundle file.
    public func exportHub(for site: String) throws -> String {
        let folder = try directory.directory("ret/\(site)")
        return try singleFile(
            succeed(["bundle", "export", "--dir", hubDirectory, "--site", site, "--out", folder, "--json"]))
    }

    /// `fieldsync bundle import` at the hub; throws unless it exits 0.
    @discardableResult
    public func importAtHub(_ files: [String]) throws -> FieldSyncCommand.Output {
        try succeed(["bundle", "import", "--dir", hubDirectory] + files)
    }

    /// `fieldsync bundle import` at `site`; throws unless it exits 0.
    @discardableResult
    public func importAtSite(_ site: String, _ files: [String]) throws -> FieldSyncCommand.Output {
        try succeed(["bundle", "import", "--dir", siteDirectory(site)] + files)
    }

    /// One full exchange: every site exports, the hub imports them all in one command, then writes a return
    /// bundle for each site, which each site imports.
    public func round() throws {
        let bundles = try siteIDs.map(exportSite)
        try importAtHub(bundles)
        for site in siteIDs { try importAtSite(site, [try exportHub(for: site)]) }
    }

    /// The live rows of `table` at the hub (tombstones left out), as `sqlite3` quote-mode lines ordered by `order`.
    public func hubRows(_ table: String, columns: String, order: String) throws -> [String] {
        try SQLiteShell.lines(
            hubStore, "SELECT \(columns) FROM \(SQLiteShell.quoted(table)) WHERE sync_deleted = 0 ORDER BY \(order)")
    }

    /// The rows of `table` at `site`, as `sqlite3` quote-mode lines ordered by `order`.
    public func siteRows(_ site: String, _ table: String, columns: String, order: String) throws -> [String] {
        try SQLiteShell.lines(
            siteDatabase(site), "SELECT \(columns) FROM \(SQLiteShell.quoted(table)) ORDER BY \(order)")
    }

    /// `fieldsync status --json` at the hub, decoded.
    public func hubStatus() throws -> HubStatusJSON {
        try JSONDecoder().decode(
            HubStatusJSON.self, from: Data(succeed(["status", "--dir", hubDirectory, "--json"]).stdout.utf8))
    }

    /// `fieldsync status --json` at `site`, decoded.
    public func siteStatus(_ site: String) throws -> SiteStatusJSON {
        try JSONDecoder().decode(
            SiteStatusJSON.self, from: Data(succeed(["status", "--dir", siteDirectory(site), "--json"]).stdout.utf8))
    }

    private func singleFile(_ output: FieldSyncCommand.Output) throws -> String {
        let reports = try JSONDecoder().decode([ExportJSON].self, from: Data(output.stdout.utf8))
        guard reports.count == 1, let file = reports[0].files.first, reports[0].files.count == 1 else {
            throw CommandFailure(
                command: ["fieldsync", "bundle", "export"],
                output: .init(status: output.status, stdout: output.stdout, stderr: "expected one bundle file"))
        }
        return file.hasPrefix("/") ? file : directory.file(file)
    }
}

/// What `fieldsync bundle export --json` prints for each bundle written.
public struct ExportJSON: Decodable, Sendable {
    public var to: String
    public var sequence: UInt64
    public var files: [String]
    public var bytes: Int64
    public var rows: Int
    public var outcomes: Int?
}

/// What `fieldsync status --json` prints at a hub.
public struct HubStatusJSON: Decodable, Sendable {
    public struct Site: Decodable, Sendable {
        public var id: String
        public var name: String
        public var publicKey: String
        public var registeredAt: String
        public var lastSequence: Int64
        public var appliedThrough: Int64
        public var lastReceivedAt: String?
        public var lastReturnSequence: Int64
        public var lastReturnAt: String?
        public var ackedHubVersion: Int64
        public var pendingRows: Int64
        public var conflicts: Int64
        public var rejected: Int64
    }

    public var hub: String
    public var sites: [Site]

    public func site(_ id: String) -> Site? { sites.first { $0.id == id } }
}

/// What `fieldsync status --json` prints at a site.
public struct SiteStatusJSON: Decodable, Sendable {
    public var site: String
    public var hub: String
    public var database: String
    public var pendingChanges: Int64
    public var changeCounter: Int64
    public var acknowledgedChange: Int64
    public var hubVersion: Int64
    public var lastExportSequence: Int64
    public var lastExportAt: String?
    public var lastImportSequence: Int64
    public var lastImportAt: String?
    public var outcomes: Int64
    public var tables: [String]
}

extension CLINetwork {
    /// Copies the hub's node directory (configuration, keys, store) to `destination`, a new directory that then
    /// works as the same hub with its own store.
    public func copyHub(to destination: String) throws {
        try FileManager.default.copyItem(atPath: hubDirectory, toPath: destination)
    }

    /// Copies `site`'s node directory to `destination` and its database into it as `app.sqlite`, pointing the
    /// copy's configuration at the copied database; returns the copied database's path.
    @discardableResult
    public func copySite(_ site: String, to destination: String) throws -> String {
        try FileManager.default.copyItem(atPath: siteDirectory(site), toPath: destination)
        let database = "\(destination)/app.sqlite"
        for suffix in ["", "-journal", "-wal"] where FileManager.default.fileExists(atPath: siteDatabase(site) + suffix)
        {
            try FileManager.default.copyItem(atPath: siteDatabase(site) + suffix, toPath: database + suffix)
        }
        let path = "\(destination)/fieldsync.json"
        guard
            var configuration = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path])
        }
        configuration["database"] = database
        try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: path))
        return database
    }
}
