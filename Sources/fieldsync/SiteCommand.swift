import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Foundation

struct SiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "Set up a field site.",
        subcommands: [Init.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn an application's SQLite database into a tracked site.",
            discussion: """
                Installs capture triggers on the tables (every table with a primary key by default) and bookkeeping \
                tables named _fieldsync_*, generates the site's keys and records the hub's public key. Rows already \
                in the tables travel in the first export. Running it again is harmless.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Option(help: "The site's node id.")
        var id: String

        @Option(help: "The application's SQLite database.")
        var db: String

        @Option(name: .customLong("hub-public-key"), help: "The hub's public identity file (HUB.pub).")
        var hubPublicKey: String

        @Option(
            name: .customLong("table"),
            help: "Track only these tables (repeat); default: every table with a primary key.")
        var tables: [String] = []

        func run() throws {
            try reportingErrors {
                guard Identifier.isValidNodeID(id) else {
                    throw ValidationError("'\(id)' is not a valid node id: use 1 to 64 letters, digits, '-' or '_'")
                }
                guard FileManager.default.fileExists(atPath: db) else {
                    throw ValidationError("the database \(db) does not exist")
                }
                let hub = try KeyStore.readPublic(at: hubPublicKey)
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let database = db.hasPrefix("/") ? db : FileManager.default.currentDirectoryPath + "/" + db
                var node = NodeDirectory(
                    path: dir,
                    configuration: NodeConfiguration(
                        role: .site, id: id, database: database, hub: hub.id, hubPublicKey: "keys/\(hub.id).pub"))
                // Running init again keeps the rest of an existing configuration (part size limit, folders).
                if FileManager.default.fileExists(atPath: node.configurationPath) {
                    let existing = try NodeDirectory.load(dir)
                    guard existing.configuration.id == id, existing.configuration.role == .site else {
                        throw ValidationError(
                            "\(dir) is already the \(existing.configuration.role.rawValue) '\(existing.configuration.id)'"
                        )
                    }
                    node.configuration.keys = existing.configuration.keys
                    node.configuration.inbox = existing.configuration.inbox
                    node.configuration.outbox = existing.configuration.outbox
                    node.configuration.partSizeLimit = existing.configuration.partSizeLimit
                }
                try node.createFolders()
                let (identity, created) = try node.ensureKeys()
                let hubKeyPath = node.resolve(node.configuration.hubPublicKey!)
                if FileManager.default.fileExists(atPath: hubKeyPath) {
                    guard try KeyStore.readPublic(at: hubKeyPath) == hub else {
                        throw ValidationError("\(hubKeyPath) holds another key for '\(hub.id)'; remove it first")
                    }
                } else {
                    try (hub.line + "\n").write(toFile: hubKeyPath, atomically: true, encoding: .utf8)
                }
                let store = try SiteStore.install(
                    path: database, siteID: id, hubID: hub.id, tables: tables.isEmpty ? nil : tables)
                try node.save()
                let status = try store.status()
                print("Site '\(id)' is tracking \(database)")
                print("  tables:          \(status.tables.joined(separator: ", "))")
                print("  pending changes: \(status.pendingChanges) (rows already present travel in the first export)")
                print("  keys:            \(node.keysDirectory)/\(id).key \(created ? "(new)" : "(kept)")")
                print("  fingerprint:     \(identity.fingerprint)")
                print("On the hub, register this site with:")
                print("  fieldsync hub add-site \(id) --public-key \(node.keysDirectory)/\(id).pub")
            }
        }
    }
}
