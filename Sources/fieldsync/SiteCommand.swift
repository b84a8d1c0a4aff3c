import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Foundation

struct SiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "Set up a field site.",
        subcommands: [Init.self, AddTable.self]
    )

    /// A refusal of a site command: printed as one `error:` line, exit status 1 (see ``reportingErrors(_:)``).
    static func refusal(_ message: String) -> StoreError {
        StoreError(.invalidState, message)
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn an application's SQLite database into a tracked site.",
            discussion: """
                Installs capture triggers on the tables and bookkeeping tables named _fieldsync_*, generates the \
                site's keys and records the hub's public key. Without --table, every table FieldSync can track is \
                tracked; views, virtual tables (FTS3/4/5, R*Tree, ...) and their shadow tables, tables without a \
                primary key or with a BLOB key, names FieldSync cannot carry, and tables whose foreign key refers to \
                a skipped table are skipped, each with the reason. With --table, a table that cannot be tracked, or \
                whose foreign-key parent is not tracked or named too, stops init with the reason. Rows already in \
                the tables travel in the first export. Running it again is harmless; run again with a corrected \
                --hub-public-key before the first return bundle, it moves the site to that hub. If init fails it \
                leaves nothing behind. Add tables later with 'fieldsync site add-table'.
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
            help: "Track only these tables (repeat); default: every table FieldSync can track.")
        var tables: [String] = []

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                guard Identifier.isValidNodeID(id) else {
                    throw refusal("'\(id)' is not a valid node id: use 1 to 64 letters, digits, '-' or '_'")
                }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: db, isDirectory: &isDirectory) else {
                    throw refusal("the database \(db) does not exist")
                }
                guard !isDirectory.boolValue else {
                    throw refusal("the database \(db) is a folder; give the application's SQLite database file")
                }
                let hub = try KeyStore.readPublic(at: hubPublicKey)
                guard hub.id != id else {
                    throw refusal("\(hubPublicKey) is the key of '\(hub.id)', the id given to this site")
                }
                let database = db.hasPrefix("/") ? db : FileManager.default.currentDirectoryPath + "/" + db
                var node = NodeDirectory(
                    path: dir,
                    configuration: NodeConfiguration(
                        role: .site, id: id, database: database, hub: hub.id, hubPublicKey: "keys/\(hub.id).pub"))
                var previous: (configuration: Data, hubKey: String?)?
                // Running init again keeps the rest of an existing configuration (part size limit, folders).
                if FileManager.default.fileExists(atPath: node.configurationPath) {
                    let existing = try NodeDirectory.load(dir)
                    guard existing.configuration.id == id, existing.configuration.role == .site else {
                        throw refusal(
                            "\(dir) is already the \(existing.configuration.role.rawValue) '\(existing.configuration.id)'"
                        )
                    }
                    node.configuration.keys = existing.configuration.keys
                    node.configuration.inbox = existing.configuration.inbox
                    node.configuration.outbox = existing.configuration.outbox
                    node.configuration.partSizeLimit = existing.configuration.partSizeLimit
                    node.configuration.keyEpoch = existing.configuration.keyEpoch
                    node.configuration.keyFingerprint = existing.configuration.keyFingerprint
                    node.configuration.hubPublicKey = "\(existing.configuration.keys)/\(hub.id).pub"
                    previous = (
                        try Data(contentsOf: URL(fileURLWithPath: node.configurationPath)),
                        existing.configuration.hubPublicKey.map(existing.resolve)
                    )
                }
                let hubKeyPath = node.resolve(node.configuration.hubPublicKey!)
                // What this run creates, removed again if it fails (the database changes roll back on their own).
                let candidates = [
                    dir, node.keysDirectory, node.resolve("bundles"), node.inboxDirectory, node.outboxDirectory,
                    "\(node.resolve("bundles"))/processed", "\(node.resolve("bundles"))/rejected",
                    "\(node.keysDirectory)/\(id).key", "\(node.keysDirectory)/\(id).pub", hubKeyPath,
                    node.configurationPath,
                ]
                let created = candidates.filter { !FileManager.default.fileExists(atPath: $0) }
                let result: (identity: PublicIdentity, keysCreated: Bool, choice: SiteTableChoice, store: SiteStore)
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    try node.createFolders()
                    let (identity, keysCreated) = try node.ensureKeys()
                    node.recordOwnKey(identity)
                    if FileManager.default.fileExists(atPath: hubKeyPath) {
                        guard try KeyStore.readPublic(at: hubKeyPath) == hub else {
                            throw refusal("\(hubKeyPath) holds another key for '\(hub.id)'; remove it first")
                        }
                    } else {
                        try (hub.line + "\n").write(toFile: hubKeyPath, atomically: true, encoding: .utf8)
                    }
                    try node.save()
                    let installed = try SiteStore.installing(
                        path: database, siteID: id, hubID: hub.id, tables: tables.isEmpty ? nil : tables)
                    result = (identity, keysCreated, installed.choice, installed.store)
                } catch {
                    for path in created.reversed() { try? FileManager.default.removeItem(atPath: path) }
                    if let previous {
                        try? previous.configuration.write(to: URL(fileURLWithPath: node.configurationPath))
                    }
                    throw error
                }
                // A corrected hub key replaces the old hub's key file (kept if it is the same file).
                if let old = previous?.hubKey, old != hubKeyPath, old.hasPrefix(node.keysDirectory + "/") {
                    try? FileManager.default.removeItem(atPath: old)
                }
                let status = try result.store.status()
                let report = InitReport(
                    site: id, hub: hub.id, database: database, tracked: result.choice.tracked,
                    added: result.choice.added, skipped: result.choice.skipped, pendingChanges: status.pendingChanges,
                    key: "\(node.keysDirectory)/\(id).key", keyCreated: result.keysCreated,
                    fingerprint: result.identity.fingerprint, publicKey: "\(node.keysDirectory)/\(id).pub")
                if json {
                    try printJSON(report)
                } else {
                    report.print()
                }
            }
        }
    }

    struct AddTable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-table",
            abstract: "Start tracking more tables at a site.",
            discussion: """
                A site only ever tracks, sends and takes changes for the tables it chose: changes the hub sends for \
                any other table are not applied (fieldsync status lists them). This adds tables by name, with the \
                checks of 'site init --table' (a table whose foreign key refers to an untracked table needs that \
                table named too), installs their capture triggers, and records their rows, which travel in the \
                next export. Hub rows of these tables that arrived before are not sent again by the hub.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "Table names.")
        var tables: [String]

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let node = try NodeDirectory.load(dir)
                guard node.configuration.role == .site else {
                    throw refusal(
                        "\(dir) is a \(node.configuration.role.rawValue), not a site; at a hub use 'hub add-table'")
                }
                let store = try node.siteEngine().store
                let choice = try store.addTables(tables)
                let pending = try store.status().pendingChanges
                if json {
                    try printJSON(
                        AddTableReport(
                            site: node.configuration.id, added: choice.added, tracked: choice.tracked,
                            pendingChanges: pending))
                    return
                }
                if choice.added.isEmpty {
                    print("Site '\(node.configuration.id)' tracks these tables already; nothing to do.")
                } else {
                    print("Site '\(node.configuration.id)' now tracks \(choice.added.joined(separator: ", ")).")
                    print("  pending changes: \(pending) (the tables' rows travel in the next export)")
                }
                print("  tracked tables:  \(choice.tracked.joined(separator: ", "))")
            }
        }
    }
}

/// What `site add-table --json` prints.
struct AddTableReport: Encodable {
    var site: String
    var added: [String]
    var tracked: [String]
    var pendingChanges: Int64
}

/// What `site init` did; printed for people, or as JSON with `--json`.
struct InitReport: Encodable {
    var site: String
    var hub: String
    var database: String
    /// Every tracked table, in apply order.
    var tracked: [String]
    /// Tables tracked by this run.
    var added: [String]
    var skipped: [SiteTableChoice.Skipped]
    var pendingChanges: Int64
    var key: String
    var keyCreated: Bool
    var fingerprint: String
    var publicKey: String

    func print() {
        Swift.print("Site '\(site)' is tracking \(database) for hub '\(hub)'")
        Swift.print("  tables:          \(tracked.isEmpty ? "none" : tracked.joined(separator: ", "))")
        if !skipped.isEmpty {
            Swift.print("  skipped:")
            for table in skipped { Swift.print("    \(table.table): \(table.reason)") }
        }
        Swift.print("  pending changes: \(pendingChanges) (rows already present travel in the first export)")
        Swift.print("  keys:            \(key) \(keyCreated ? "(new)" : "(kept)")")
        Swift.print("  fingerprint:     \(fingerprint)")
        Swift.print("On the hub, register this site with:")
        Swift.print("  fieldsync hub add-site \(site) --public-key \(publicKey)")
    }
}

/// `SiteCommand.refusal(_:)` for the subcommands.
private func refusal(_ message: String) -> StoreError {
    SiteCommand.refusal(message)
}
