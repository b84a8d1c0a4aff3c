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
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
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
                "Register a site with its public key, so the hub accepts its bundles and writes it return bundles."
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The site's node id.")
        var site: String

        @Option(name: .customLong("public-key"), help: "The site's public identity file (SITE.pub).")
        var publicKey: String

        @Option(help: "A name for people (default: the id).")
        var name: String?

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let engine = try node.hubEngine()
                let identity = try KeyStore.readPublic(at: publicKey)
                guard identity.id == site else {
                    throw ValidationError("\(publicKey) is the public key of '\(identity.id)', not of '\(site)'")
                }
                try engine.store.registerSite(id: site, name: name ?? site, publicKey: identity.line)
                try FileManager.default.createDirectory(
                    atPath: "\(node.outboxDirectory)/\(site)", withIntermediateDirectories: true)
                print(
                    "Site '\(site)' is registered (key epoch \(identity.epoch), fingerprint \(identity.fingerprint)).")
                print("Check the fingerprint with the site's IT person before trusting its bundles.")
            }
        }
    }
}
