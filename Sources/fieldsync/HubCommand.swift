import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Foundation

struct HubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Set up a hub: its store, synced tables, registered sites, conflict rules and notifications.",
        subcommands: [Init.self, AddTable.self, AddSite.self, Rules.self, Notify.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a hub in a node directory: configuration, keys, bundle folders and the store.",
            discussion: "Running it again on the same directory keeps the existing keys and store."
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Option(help: "The hub's node id.")
        var id: String

        @Option(
            help: ArgumentHelp(
                "The hub store: a SQLite file (default NODE/hub.sqlite), or a PostgreSQL URL postgresql://USER@HOST/DB.",
                discussion: "For PostgreSQL, PG* environment variables, ~/.pgpass and TLS options (sslmode=…) apply."))
        var store: String?

        func run() throws {
            try reportingErrors {
                guard Identifier.isValidNodeID(id) else {
                    throw ValidationError("'\(id)' is not a valid node id: use 1 to 64 letters, digits, '-' or '_'")
                }
                try Files.makeFolder(dir)
                // Running init again keeps the existing configuration (and so the store) unless --store says otherwise.
                var node = NodeDirectory(
                    path: dir, configuration: NodeConfiguration(role: .hub, id: id, store: "hub.sqlite"))
                if FileManager.default.fileExists(atPath: node.configurationPath) {
                    node = try NodeDirectory.load(dir)
                    guard node.configuration.id == id, node.configuration.role == .hub else {
                        throw ValidationError(
                            "\(dir) is already the \(node.configuration.role.rawValue) '\(node.configuration.id)'")
                    }
                }
                if let store { node.configuration.store = store }
                if node.configuration.store == nil { node.configuration.store = "hub.sqlite" }
                try node.createFolders()
                let (identity, created) = try node.ensureKeys()
                node.recordOwnKey(identity)
                try node.applyConfiguredRules(to: node.openStore(create: id))
                try node.save()
                print("Hub '\(id)' is ready in \(dir)/")
                print("  store:       \(node.storeDescription)")
                if node.holdsPassword {
                    printWarning(
                        "the database password is kept in \(node.configurationPath) (mode 0600); PGPASSWORD or "
                            + "~/.pgpass keep it out of the node directory")
                }
                print("  keys:        \(node.keysDirectory)/\(id).key \(created ? "(new)" : "(kept)")")
                print("  fingerprint: \(identity.fingerprint)")
                print(
                    "Give each site the hub's public key file \(node.keysDirectory)/\(id).pub, then declare tables "
                        + "with 'fieldsync hub add-table' and sites with 'fieldsync hub add-site'.")
            }
        }
    }

    struct AddTable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-table",
            abstract: "Declare synced tables on the hub.",
            discussion: """
                With --column (and --primary-key), creates one table with those columns. Without, adopts tables \
                that already exist in the hub store. Rows already in a table are synced too. Column types: \
                \(ColumnType.allTypes.map(\.name).joined(separator: ", ")).
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "Table names.")
        var tables: [String]

        @Option(name: .customLong("column"), help: "A column as NAME:TYPE[:notnull]; repeat for each column.")
        var columns: [String] = []

        @Option(name: .customLong("primary-key"), help: "Primary-key columns, comma-separated.")
        var primaryKey: String?

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let engine = try node.hubEngine()
                var schema: TableSchema?
                if !columns.isEmpty {
                    guard tables.count == 1, let primaryKey else {
                        throw ValidationError("--column declares one table and needs --primary-key")
                    }
                    schema = try TableSchema(
                        name: tables[0], columns: try columns.map(Self.parseColumn),
                        primaryKey: primaryKey.split(separator: ",").map {
                            String($0).trimmingCharacters(in: .whitespaces)
                        })
                }
                for name in tables {
                    let table = try engine.store.addTable(name: name, schema: schema)
                    print(
                        "Table '\(table.name)' is synced: "
                            + table.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ")
                            + "; primary key (\(table.primaryKey.joined(separator: ", ")))")
                }
                // A rule in fieldsync.json for a table added just now applies from now on.
                try node.applyConfiguredRules(to: engine.store)
            }
        }

        static func parseColumn(_ text: String) throws -> Column {
            let parts = text.split(separator: ":").map(String.init)
            guard parts.count == 2 || (parts.count == 3 && parts[2] == "notnull") else {
                throw ValidationError("--column '\(text)': expected NAME:TYPE or NAME:TYPE:notnull")
            }
            guard let type = ColumnType(name: parts[1]) else {
                throw ValidationError(
                    "--column '\(text)': unknown type '\(parts[1])'; use one of "
                        + ColumnType.allTypes.map(\.name).joined(separator: ", "))
            }
            return Column(name: parts[0], type: type, nullable: parts.count == 2)
        }
    }

    struct AddSite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-site",
            abstract:
                "Register a site with its public key, so the hub accepts its bundles and writes it return bundles.",
            discussion: """
                Running it again takes the site's new key when its key epoch is newer than the registered one. A key \
                of an older epoch (a retired key), or another key under the registered epoch, is refused unless \
                --allow-older-epoch or --replace-key is given. Every registration and key change, and every \
                refused key change, is a line in the hub's sync log. The registered key is also copied to \
                KEYS/SITE.pub, where 'fieldsync bundle verify --keys-dir' looks for it.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The site's node id.")
        var site: String

        @Option(name: .customLong("public-key"), help: "The site's public identity file (SITE.pub).")
        var publicKey: String

        @Option(help: "A name for people (default: the id).")
        var name: String?

        @Flag(
            name: .customLong("allow-older-epoch"),
            help: "Go back to a key of an older epoch than the one registered (a retired key); logged in sync_log.")
        var allowOlderEpoch = false

        @Flag(
            name: .customLong("replace-key"),
            help: "Replace the registered key with another key of the same epoch; logged in sync_log.")
        var replaceKey = false

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let engine = try node.hubEngine()
                let store = engine.store
                let identity = try KeyStore.readPublic(at: publicKey)
                guard identity.id == site else {
                    throw ValidationError(
                        "\(publicKey) holds the public key of '\(identity.id)', not of '\(site)'; give the file "
                            + "made by 'fieldsync site init' at '\(site)' (its keys/\(site).pub)")
                }
                guard site != node.configuration.id else {
                    throw ValidationError("'\(site)' is this hub's own id; a site needs an id of its own")
                }
                let recorded = try store.publicKey(ofSite: site).map { try PublicIdentity(line: $0) }
                let change = KeyChange(recorded: recorded, offered: identity)
                if let refusal = refusal(of: change, identity: identity) {
                    try store.logEvent(site: site, operation: "register_site", status: "refused", message: refusal)
                    throw ValidationError(refusal)
                }
                try store.registerSite(id: site, name: name ?? site, publicKey: identity.line)
                if let message = logMessage(of: change, identity: identity) {
                    try store.logEvent(
                        site: site, operation: "register_site", status: change.logStatus, message: message)
                }
                // The hub keeps a copy of every registered key beside its own, for 'fieldsync bundle verify'.
                try Files.makeFolder(node.keysDirectory)
                try Files.write(Data((identity.line + "\n").utf8), to: "\(node.keysDirectory)/\(site).pub")
                try Files.makeFolder("\(node.outboxDirectory)/\(site)")
                switch change {
                case .first:
                    print(
                        "Site '\(site)' is registered (key epoch \(identity.epoch), fingerprint "
                            + "\(identity.fingerprint)).")
                case .unchanged:
                    print("Site '\(site)' is registered already with this key (key epoch \(identity.epoch)).")
                case .newerEpoch(let old), .olderEpoch(let old):
                    print(
                        "Site '\(site)' now has key epoch \(identity.epoch) (was \(old)), fingerprint "
                            + "\(identity.fingerprint); bundles signed with the old key are refused from now on.")
                case .sameEpochOtherKey:
                    print(
                        "Site '\(site)' has a new key under epoch \(identity.epoch), fingerprint "
                            + "\(identity.fingerprint); bundles signed with the old key are refused from now on.")
                }
                print("  public key copied to \(node.keysDirectory)/\(site).pub")
                print("Check the fingerprint with the site's IT person before trusting its bundles.")
            }
        }

        /// Why `change` is refused without an explicit flag, or `nil` if it may go ahead.
        func refusal(of change: KeyChange, identity: PublicIdentity) -> String? {
            switch change {
            case .olderEpoch(let recorded) where !allowOlderEpoch:
                return "\(publicKey) holds key epoch \(identity.epoch) of '\(site)', older than the registered epoch "
                    + "\(recorded): that key was retired (and may be in the wrong hands). Give the site's current "
                    + "key, or pass --allow-older-epoch if the site really went back to it"
            case .sameEpochOtherKey(let fingerprint) where !replaceKey:
                return "\(publicKey) holds another key of '\(site)' under the registered epoch \(identity.epoch) "
                    + "(registered fingerprint \(fingerprint), this file \(identity.fingerprint)). A site that "
                    + "replaces its keys raises the epoch; pass --replace-key only after checking the fingerprint "
                    + "with the site"
            default:
                return nil
            }
        }

        /// The `sync_log` line for a change of the registered key, or `nil` when there is none to log.
        func logMessage(of change: KeyChange, identity: PublicIdentity) -> String? {
            switch change {
            case .first:
                return "site '\(site)' registered with key epoch \(identity.epoch), fingerprint \(identity.fingerprint)"
            case .unchanged:
                return nil
            case .newerEpoch(let recorded):
                return "site '\(site)' key replaced: epoch \(recorded) -> \(identity.epoch), fingerprint "
                    + "\(identity.fingerprint)"
            case .olderEpoch(let recorded):
                return "site '\(site)' key went back to an older epoch: \(recorded) -> \(identity.epoch), fingerprint "
                    + "\(identity.fingerprint) (--allow-older-epoch)"
            case .sameEpochOtherKey(let fingerprint):
                return "site '\(site)' key replaced under the same epoch \(identity.epoch): fingerprint \(fingerprint) "
                    + "-> \(identity.fingerprint) (--replace-key)"
            }
        }
    }
}

extension KeyChange {
    /// The `status` of the `sync_log` line recording this change.
    var logStatus: String {
        switch self {
        case .first: "registered"
        case .unchanged: "ok"
        case .newerEpoch: "key_replaced"
        case .olderEpoch: "older_epoch"
        case .sameEpochOtherKey: "key_replaced"
        }
    }
}
