import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncPostgres
import FieldSyncSQLite
import FieldSyncSite
import Foundation

/// A node's configuration file, `NODE/fieldsync.json`. Relative paths are relative to the node directory.
///
/// ```json
/// {"format": "fieldsync-node", "version": 1, "role": "site", "id": "site-nairobi", "keys": "keys",
///  "inbox": "bundles/inbox", "outbox": "bundles/outbox",
///  "database": "/srv/app/app.sqlite", "hub": "hub", "hub_public_key": "keys/hub.pub"}
/// ```
struct NodeConfiguration: Codable {
    enum Role: String, Codable {
        case hub, site
    }

    var format = "fieldsync-node"
    var version = 1
    var role: Role
    var id: String
    /// Directory holding `ID.key` and peers' `.pub` files.
    var keys = "keys"
    var inbox = "bundles/inbox"
    var outbox = "bundles/outbox"
    /// Hub: the store: a SQLite file path, or a PostgreSQL connection URL (`postgresql://…`) or libpq
    /// connection string (`host=… dbname=…`). PG* environment variables and `~/.pgpass` apply as usual.
    var store: String?
    /// Hub on PostgreSQL: a password for the store, if not given by PGPASSWORD or `~/.pgpass`.
    var storePassword: String?
    /// Hub on PostgreSQL: the schema of the synced tables (default `public`).
    var dataSchema: String?
    /// Site: the application's SQLite database.
    var database: String?
    /// Site: the hub's node id.
    var hub: String?
    /// Site: the hub's public identity file.
    var hubPublicKey: String?
    /// Site: the key epoch of the hub's key as accepted by `site init`; the file at `hub_public_key` must still hold
    /// it (see ``NodeDirectory/hubIdentity(expectedHub:)``). Recorded by ``NodeDirectory/save()``.
    var hubKeyEpoch: UInt32?
    /// Site: the fingerprint of the hub's key as accepted by `site init`.
    var hubKeyFingerprint: String?
    /// The key epoch of this node's own secret key (`keys/ID.key`) as first used; see ``NodeDirectory/loadKeys()``.
    var keyEpoch: UInt32?
    /// The fingerprint of this node's own key as first used (or as last replaced with a newer epoch).
    var keyFingerprint: String?
    /// Largest bundle part file in bytes (default 4,000,000,000, below FAT32's limit).
    var partSizeLimit: Int64?
    /// Hub: conflict rules by table, applied to the store whenever a hub command opens it (see
    /// ``NodeDirectory/applyConfiguredRules(to:)``).
    var conflictRules: [String: ConfiguredRule]?
    /// Hub: where `fieldsync hub notify` delivers conflict notifications.
    var notify: NotifySettings?

    enum CodingKeys: String, CodingKey {
        case format, version, role, id, keys, inbox, outbox, store, database, hub, notify
        case hubPublicKey = "hub_public_key", partSizeLimit = "part_size_limit", storePassword = "store_password"
        case dataSchema = "data_schema", conflictRules = "conflict_rules"
        case hubKeyEpoch = "hub_key_epoch", hubKeyFingerprint = "hub_key_fingerprint"
        case keyEpoch = "key_epoch", keyFingerprint = "key_fingerprint"
    }

    static let fileName = "fieldsync.json"
}

extension NodeConfiguration {
    /// Reads a configuration; fields with a default (format, version, keys, inbox, outbox) may be left out of a
    /// hand-written file. `role` and `id` are required.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decode(Role.self, forKey: .role)
        id = try container.decode(String.self, forKey: .id)
        format = try container.decodeIfPresent(String.self, forKey: .format) ?? format
        version = try container.decodeIfPresent(Int.self, forKey: .version) ?? version
        keys = try container.decodeIfPresent(String.self, forKey: .keys) ?? keys
        inbox = try container.decodeIfPresent(String.self, forKey: .inbox) ?? inbox
        outbox = try container.decodeIfPresent(String.self, forKey: .outbox) ?? outbox
        store = try container.decodeIfPresent(String.self, forKey: .store)
        storePassword = try container.decodeIfPresent(String.self, forKey: .storePassword)
        dataSchema = try container.decodeIfPresent(String.self, forKey: .dataSchema)
        database = try container.decodeIfPresent(String.self, forKey: .database)
        hub = try container.decodeIfPresent(String.self, forKey: .hub)
        hubPublicKey = try container.decodeIfPresent(String.self, forKey: .hubPublicKey)
        hubKeyEpoch = try container.decodeIfPresent(UInt32.self, forKey: .hubKeyEpoch)
        hubKeyFingerprint = try container.decodeIfPresent(String.self, forKey: .hubKeyFingerprint)
        keyEpoch = try container.decodeIfPresent(UInt32.self, forKey: .keyEpoch)
        keyFingerprint = try container.decodeIfPresent(String.self, forKey: .keyFingerprint)
        partSizeLimit = try container.decodeIfPresent(Int64.self, forKey: .partSizeLimit)
        conflictRules = try container.decodeIfPresent([String: ConfiguredRule].self, forKey: .conflictRules)
        notify = try container.decodeIfPresent(NotifySettings.self, forKey: .notify)
    }
}

/// A node directory: its configuration, keys and bundle folders.
struct NodeDirectory {
    let path: String
    var configuration: NodeConfiguration

    var configurationPath: String { "\(path)/\(NodeConfiguration.fileName)" }

    /// Reads `PATH/fieldsync.json`, naming the file and the field at fault if it is malformed.
    static func load(_ path: String) throws -> NodeDirectory {
        let file = "\(path)/\(NodeConfiguration.fileName)"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StoreError(
                .invalidState,
                "no FieldSync node here (\(file) is missing); run 'fieldsync hub init' or "
                    + "'fieldsync site init', or pass --dir", location: path)
        }
        do {
            let configuration = try JSONDecoder().decode(NodeConfiguration.self, from: data)
            guard configuration.format == "fieldsync-node", configuration.version == 1 else {
                throw StoreError(.invalidState, "not a FieldSync node configuration of version 1", location: file)
            }
            guard Identifier.isValidNodeID(configuration.id) else {
                throw StoreError(
                    .invalidState, "field 'id': '\(configuration.id)' is not a valid node id", location: file)
            }
            return NodeDirectory(path: path, configuration: configuration)
        } catch let error as DecodingError {
            throw StoreError(.invalidState, "malformed configuration: \(describe(error))", location: file)
        }
    }

    /// Writes the configuration file atomically; mode 0600 when it holds a password.
    ///
    /// At a site, records the key epoch and fingerprint of the hub's key file (`hub_key_epoch`,
    /// `hub_key_fingerprint`) unless recorded already, so that a different key put in its place later is refused.
    /// `site init` starts from a fresh configuration, so running it again with the hub's new key records that one.
    func save() throws {
        var configuration = configuration
        if configuration.role == .site, configuration.hubKeyEpoch == nil || configuration.hubKeyFingerprint == nil,
            let file = configuration.hubPublicKey, let hub = try? KeyStore.readPublic(at: resolve(file))
        {
            configuration.hubKeyEpoch = hub.epoch
            configuration.hubKeyFingerprint = hub.fingerprint
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Files.write(try encoder.encode(configuration), to: configurationPath)
        if holdsPassword {
            do {
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configurationPath)
            } catch {
                throw FileError(error, path: configurationPath)
            }
        }
    }

    /// Whether the configuration carries a secret: a database password (in `store_password` or inside the store
    /// URL), or one for notifications (see ``NotifySettings/secretField``).
    var holdsPassword: Bool {
        if configuration.storePassword != nil || configuration.notify?.secretField != nil { return true }
        guard let store = configuration.store else { return false }
        if let url = URLComponents(string: store), url.password != nil { return true }
        return store.contains("password=")
    }

    /// `relative` resolved against the node directory (absolute paths stay as they are).
    func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : "\(path)/\(relative)"
    }

    var keysDirectory: String { resolve(configuration.keys) }
    var inboxDirectory: String { resolve(configuration.inbox) }
    var outboxDirectory: String { resolve(configuration.outbox) }
    /// Where `bundle import --from` (or from the inbox) moves the bundles it applied: `bundles/processed/`.
    var processedDirectory: String { "\(resolve("bundles"))/processed" }
    /// Where `bundle import --from` (or from the inbox) moves the bundles it refused: `bundles/rejected/`.
    var rejectedDirectory: String { "\(resolve("bundles"))/rejected" }

    /// The node's own secret keys, checked against what this node used before.
    ///
    /// The key file must name this node (`id` of fieldsync.json). Its epoch and fingerprint are recorded in
    /// fieldsync.json (`key_epoch`, `key_fingerprint`) the first time they are used; after that, another key under
    /// the same epoch or an older epoch (a key file from another node's or an old backup) is refused, so that a hub
    /// never signs return bundles with a key its sites do not trust, and a newer epoch (the node's keys replaced
    /// with `fieldsync keys generate --epoch`) is recorded with a note.
    ///
    /// - Throws: ``BundleError`` naming the key file, what it holds and what was expected.
    func loadKeys() throws -> NodeKeys {
        let path = "\(keysDirectory)/\(configuration.id).key"
        let keys = try KeyStore.readSecret(at: path)
        let identity = keys.identity
        guard identity.id == configuration.id else {
            throw BundleError(
                .invalidKey,
                "holds the secret key of '\(identity.id)', but this node is '\(configuration.id)' (field 'id' of "
                    + "\(configurationPath)); put this node's own key file back", path: path)
        }
        if let epoch = configuration.keyEpoch, let fingerprint = configuration.keyFingerprint {
            if identity.epoch < epoch {
                throw BundleError(
                    .keyEpoch,
                    "holds key epoch \(identity.epoch) of '\(identity.id)', older than epoch \(epoch) this node uses "
                        + "(field 'key_epoch' of \(configurationPath)): that key is retired; put the current key "
                        + "file back", path: path)
            }
            if identity.epoch == epoch, identity.fingerprint != fingerprint {
                throw BundleError(
                    .invalidKey,
                    "holds another key of '\(identity.id)' (fingerprint \(identity.fingerprint)) than the one this "
                        + "node uses under epoch \(epoch) (\(fingerprint), field 'key_fingerprint' of "
                        + "\(configurationPath)); put this node's key file back. A node's new keys take the next "
                        + "epoch ('fieldsync keys generate --epoch \(epoch + 1)')", path: path)
            }
            if identity.epoch == epoch { return keys }
            printError(
                "note: \(path) holds new keys of '\(identity.id)' (epoch \(identity.epoch), fingerprint "
                    + "\(identity.fingerprint)); this node uses them from now on")
        }
        var updated = self
        updated.configuration.keyEpoch = nil
        updated.recordOwnKey(identity)
        try updated.save()
        return keys
    }

    /// Records the epoch and fingerprint of this node's own key (`key_epoch`, `key_fingerprint`) unless recorded
    /// already; `hub init` and `site init` call it, ``loadKeys()`` checks against it.
    mutating func recordOwnKey(_ identity: PublicIdentity) {
        guard configuration.keyEpoch == nil || configuration.keyFingerprint == nil else { return }
        configuration.keyEpoch = identity.epoch
        configuration.keyFingerprint = identity.fingerprint
    }

    /// Creates the bundle folders.
    func createFolders() throws {
        for folder in [
            inboxDirectory, outboxDirectory, processedDirectory, rejectedDirectory,
        ] {
            try Files.makeFolder(folder)
        }
    }

    /// Generates the node's keys unless they exist already; returns its public identity.
    func ensureKeys() throws -> (identity: PublicIdentity, created: Bool) {
        let secret = "\(keysDirectory)/\(configuration.id).key"
        if FileManager.default.fileExists(atPath: secret) {
            return (try KeyStore.readSecret(at: secret).identity, false)
        }
        let keys = try NodeKeys.generate(id: configuration.id)
        try KeyStore.write(keys, to: keysDirectory)
        return (keys.identity, true)
    }

    func requireRole(_ role: NodeConfiguration.Role) throws {
        guard configuration.role == role else {
            throw ValidationError("\(path) is a \(configuration.role.rawValue), not a \(role.rawValue)")
        }
    }

    /// The hub's engine over its store, with the conflict rules of the configuration file applied.
    func hubEngine() throws -> HubEngine {
        try requireRole(.hub)
        let store = try openStore(create: nil)
        try applyConfiguredRules(to: store)
        return try HubEngine(store: store, keys: try loadKeys())
    }

    /// Whether `store` names a PostgreSQL database rather than a SQLite file.
    static func isPostgres(_ store: String) -> Bool {
        store.hasPrefix("postgres://") || store.hasPrefix("postgresql://") || store.contains("dbname=")
            || store.contains("host=")
    }

    /// Opens the hub's store; with `create`, creates (or migrates) it first for that hub id.
    func openStore(create hubID: String?) throws -> any HubStore {
        guard let store = configuration.store else {
            throw StoreError(.invalidState, "field 'store' is missing", location: configurationPath)
        }
        if Self.isPostgres(store) {
            var overrides: [String: String] = [:]
            if let password = configuration.storePassword { overrides["password"] = password }
            let settings = PostgresHubStore.Configuration(
                conninfo: store, overrides: overrides, dataSchema: configuration.dataSchema ?? "public")
            if let hubID { return try PostgresHubStore.create(configuration: settings, hubID: hubID) }
            return try PostgresHubStore(configuration: settings)
        }
        if let hubID { return try SQLiteHubStore.create(path: resolve(store), hubID: hubID) }
        return try SQLiteHubStore(path: resolve(store))
    }

    /// The store for messages: the file, or the PostgreSQL target without any password.
    var storeDescription: String {
        guard let store = configuration.store else { return "?" }
        guard Self.isPostgres(store) else { return "\(resolve(store)) (embedded SQLite)" }
        if let url = URLComponents(string: store), url.scheme?.hasPrefix("postgres") == true {
            return "PostgreSQL database \(url.path.dropFirst().isEmpty ? "(default)" : String(url.path.dropFirst())) "
                + "on \(url.host ?? "localhost")\(url.port.map { ":\($0)" } ?? "")"
        }
        return "PostgreSQL (connection string)"
    }

    /// The site's engine over its database, with the hub's key checked by ``hubIdentity(expectedHub:)``.
    func siteEngine() throws -> SiteEngine {
        try requireRole(.site)
        guard let database = configuration.database, configuration.hubPublicKey != nil else {
            throw StoreError(
                .invalidState, "fields 'database' and 'hub_public_key' are required for a site",
                location: configurationPath)
        }
        let store = try SiteStore(path: resolve(database))
        let recordedHub = try store.connection.scalar("SELECT value FROM _fieldsync_state WHERE key = 'hub_id'")?
            .textValue
        return try SiteEngine(store: store, keys: try loadKeys(), hub: try hubIdentity(expectedHub: recordedHub))
    }

    /// The hub's public identity from the file at `hub_public_key`, refused unless its id is the hub named by the
    /// configuration (`hub`) and by the site's database (`expectedHub`), and its key is the one recorded by
    /// `site init` (`hub_key_epoch`, `hub_key_fingerprint`).
    ///
    /// Without these checks, another node's `.pub` put in the file's place would have the site encrypt its bundles
    /// to that node.
    ///
    /// - Throws: ``BundleError`` with `.invalidKey` (wrong id, another key) or `.keyEpoch` (another epoch), naming
    ///   the file, what it holds and what was expected.
    func hubIdentity(expectedHub recordedHub: String?) throws -> PublicIdentity {
        let path = resolve(configuration.hubPublicKey ?? "")
        let hub = try KeyStore.readPublic(at: path)
        let rerun = "run 'fieldsync site init' again with --hub-public-key and the hub's key file"
        if let expected = configuration.hub, hub.id != expected {
            throw BundleError(
                .invalidKey,
                "holds the public key of '\(hub.id)', but this site's hub is '\(expected)' (field 'hub' of "
                    + "\(configurationPath)); put the hub's key file back", path: path)
        }
        if let recordedHub, !recordedHub.isEmpty, hub.id != recordedHub {
            throw BundleError(
                .invalidKey,
                "holds the public key of '\(hub.id)', but the site's database records its hub as '\(recordedHub)'; "
                    + "put the key file of '\(recordedHub)' back, or \(rerun)", path: path)
        }
        if let epoch = configuration.hubKeyEpoch, hub.epoch != epoch {
            throw BundleError(
                .keyEpoch,
                "holds key epoch \(hub.epoch) of '\(hub.id)', but this site accepted epoch \(epoch) (field "
                    + "'hub_key_epoch' of \(configurationPath)). "
                    + (hub.epoch < epoch
                        ? "That is an older, retired key: put the current key file back"
                        : "If the hub replaced its keys, check the new fingerprint \(hub.fingerprint) with "
                            + "headquarters, then \(rerun)"),
                path: path)
        }
        if let fingerprint = configuration.hubKeyFingerprint, hub.fingerprint != fingerprint {
            throw BundleError(
                .invalidKey,
                "holds another key of '\(hub.id)' (fingerprint \(hub.fingerprint)) than the one this site accepted "
                    + "(\(fingerprint), field 'hub_key_fingerprint' of \(configurationPath)); put the hub's key "
                    + "file back, or check the new fingerprint with headquarters and \(rerun)", path: path)
        }
        return hub
    }

    /// The bundle writer settings for this node.
    func writerTemplate(directory: String) -> BundleWriter.Configuration {
        BundleWriter.Configuration(
            kind: .delta, sequence: 0, directory: directory,
            partSizeLimit: configuration.partSizeLimit ?? 4_000_000_000)
    }
}

/// A decoding error as "field 'a.b': what is wrong".
func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
        return keys.isEmpty ? "the file" : "field '\(keys.joined(separator: "."))'"
    }
    switch error {
    case .keyNotFound(let key, let context):
        let parent = path(context)
        return "\(parent == "the file" ? "" : parent + ": ")required field '\(key.stringValue)' is missing"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
        return "\(path(context)): wrong type (\(context.debugDescription))"
    case .dataCorrupted(let context):
        return "\(path(context)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}
