import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncSQLite
import FieldSyncSite
import Foundation
import Logging

/// Goals 1 and 2 of `fieldsync-bench sync`: the hub ingesting a site's bundle of new rows, and a second site
/// applying the hub's return bundle of the same rows, each next to a raw SQLite insert of the same rows.
///
/// The rows travel as they would in the field: site A's application inserts the generated rows after tracking
/// started (so the capture triggers number them in generation order), site A exports a delta bundle, the hub
/// ingests it (timed), the hub writes a return bundle for a new site B, and site B applies it (timed). Because
/// every bundle carries the rows in generation order, the limits insert the same generated rows in the same order.
struct SyncExchange {
    /// Best times of one row count.
    struct Result {
        var hubIngest: Phase
        var hubLimit: Phase
        var siteApply: Phase
        var siteLimit: Phase
        /// Verify + decrypt + decode of the same bundles alone, without applying: how much of each phase is the
        /// bundle and how much is SQL.
        var siteBundleRead: Phase
        var returnBundleRead: Phase
        var hubSettings: SyncLimit.Settings
        var siteSettings: SyncLimit.Settings
        var siteBundleBytes: Int64
        var returnBundleBytes: Int64
        /// Untimed preparation, in seconds, for the record.
        var setup: [String: Double]
    }

    static let hubID = "hub"
    static let sourceSite = BeneficiaryGenerator.origin
    static let targetSite = "site-b"

    let rows: Int
    let seed: UInt64
    let directory: String?
    /// `PRAGMA cache_size` set on the hub's and site B's connections before they import (and so on the limits);
    /// `nil` leaves SQLite's default, as the library runs.
    let cacheSize: Int?
    let logger: Logger

    func measure(repetitions: Int, memory: inout PeakMemory) throws -> Result {
        let table = BeneficiaryGenerator.tableName
        let scratch = try ScratchDirectory(parent: directory)
        let hubKeys = try NodeKeys.generate(id: Self.hubID)
        let sourceKeys = try NodeKeys.generate(id: Self.sourceSite)
        let targetKeys = try NodeKeys.generate(id: Self.targetSite)
        var setup: [String: Double] = [:]

        // Site A: tracked first, then filled by its application in one transaction, so the triggers number the
        // rows in generation order; then its delta bundle.
        let sourcePath = scratch.path + "/\(Self.sourceSite).sqlite"
        let filled = try Self.fill(path: sourcePath, rows: rows, seed: seed) {
            _ = try SiteStore.install(path: sourcePath, siteID: Self.sourceSite, hubID: Self.hubID, tables: nil)
        }
        setup["site_a_fill_with_triggers"] = filled.insertSeconds
        setup["site_a_generation"] = filled.generationSeconds
        let source = try SiteEngine(
            store: try SiteStore(path: sourcePath), keys: sourceKeys, hub: hubKeys.identity, logger: logger)
        let outbox = scratch.path + "/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        var exportClock = Stopwatch()
        let export = try exportClock.time {
            try source.export(template: .init(kind: .delta, sequence: 0, directory: outbox))
        }
        setup["site_a_export"] = exportClock.seconds
        guard export.changes == rows else {
            throw BenchError("site A exported \(export.changes) changes, expected \(rows)")
        }
        let siteBundle = export.bundle.paths

        var best: Result?
        for _ in 0..<repetitions {
            let round = try ScratchDirectory(parent: scratch.path)

            // Goal 2: the hub ingests site A's bundle.
            let hubPath = round.path + "/hub.sqlite"
            let hubStore = try SQLiteHubStore.create(path: hubPath, hubID: Self.hubID)
            try hubStore.addTable(name: table, schema: BeneficiaryGenerator.schema)
            try hubStore.registerSite(id: Self.sourceSite, name: Self.sourceSite, publicKey: sourceKeys.identity.line)
            try hubStore.registerSite(id: Self.targetSite, name: Self.targetSite, publicKey: targetKeys.identity.line)
            if let cacheSize { try hubStore.connection.execute("PRAGMA cache_size = \(cacheSize)") }
            let hub = try HubEngine(store: hubStore, keys: hubKeys, logger: logger)
            var clock = Stopwatch()
            memory.reset()
            var start = memory.current()
            let ingest = try clock.time { try hub.importBundle(paths: siteBundle) }
            let hubIngest = Phase(clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start)
            guard ingest.applied == rows, ingest.rejected == 0, ingest.conflicts == 0 else {
                throw BenchError(
                    "the hub applied \(ingest.applied) rows (\(ingest.rejected) rejected, \(ingest.conflicts) "
                        + "conflicts), expected \(rows)")
            }
            let hubColumns =
                BeneficiaryGenerator.schema.columns.map(\.name)
                + ["sync_version", "sync_modified_at", "sync_origin_client", "sync_deleted"]
            let hubSettings = try SyncLimit.Settings(of: hubStore.connection, table: table, columns: hubColumns)
            let stampedAt = Value.text("2024-01-01T00:00:00Z")
            let origin = Value.text(Self.sourceSite)
            let hubLimit = try SyncLimit.insert(
                rows: rows, seed: seed, table: table, path: round.path + "/hub-limit.sqlite", settings: hubSettings,
                extra: { [.integer(Int64($0 + 1)), stampedAt, origin, .integer(0)] }, memory: &memory)

            // Goal 1: site B applies the hub's return bundle carrying the same rows.
            let returnDirectory = round.path + "/return"
            try FileManager.default.createDirectory(atPath: returnDirectory, withIntermediateDirectories: true)
            var returnClock = Stopwatch()
            let written = try returnClock.time {
                try hub.exportReturn(
                    for: Self.targetSite, template: .init(kind: .return, sequence: 0, directory: returnDirectory))
            }
            setup["hub_return_export"] = min(setup["hub_return_export"] ?? .infinity, returnClock.seconds)
            guard written.rows == rows else {
                throw BenchError("the hub's return bundle carries \(written.rows) rows, expected \(rows)")
            }
            let targetPath = round.path + "/\(Self.targetSite).sqlite"
            do {
                let application = try SyncRawDatabase(path: targetPath)
                try application.execute(SQLiteSchema.createStatement(for: BeneficiaryGenerator.schema))
            }
            let target = try SiteEngine(
                store: try SiteStore.install(
                    path: targetPath, siteID: Self.targetSite, hubID: Self.hubID, tables: nil),
                keys: targetKeys, hub: hubKeys.identity, logger: logger)
            if let cacheSize { try target.store.connection.execute("PRAGMA cache_size = \(cacheSize)") }
            clock = Stopwatch()
            memory.reset()
            start = memory.current()
            let applied = try clock.time { try target.importBundle(paths: written.bundle.paths) }
            let siteApply = Phase(clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start)
            guard applied.applied == rows, applied.keptLocal == 0 else {
                throw BenchError("site B applied \(applied.applied) rows, expected \(rows)")
            }
            let siteSettings = try SyncLimit.Settings(
                of: target.store.connection, table: table, columns: BeneficiaryGenerator.schema.columns.map(\.name))
            let siteLimit = try SyncLimit.insert(
                rows: rows, seed: seed, table: table, path: round.path + "/site-limit.sqlite",
                settings: siteSettings, memory: &memory)

            // For the split: the same two bundles read (verify, decrypt, decode) without being applied.
            let siteBundleRead = try Self.read(
                paths: siteBundle, sender: sourceKeys.identity, recipient: hubKeys, rows: rows, memory: &memory)
            let returnBundleRead = try Self.read(
                paths: written.bundle.paths, sender: hubKeys.identity, recipient: targetKeys, rows: rows,
                memory: &memory)

            let result = Result(
                hubIngest: hubIngest, hubLimit: hubLimit, siteApply: siteApply, siteLimit: siteLimit,
                siteBundleRead: siteBundleRead, returnBundleRead: returnBundleRead, hubSettings: hubSettings,
                siteSettings: siteSettings, siteBundleBytes: export.bundle.bytes,
                returnBundleBytes: written.bundle.bytes, setup: setup)
            if let previous = best {
                best = Result(
                    hubIngest: previous.hubIngest.best(with: hubIngest),
                    hubLimit: previous.hubLimit.best(with: hubLimit),
                    siteApply: previous.siteApply.best(with: siteApply),
                    siteLimit: previous.siteLimit.best(with: siteLimit),
                    siteBundleRead: previous.siteBundleRead.best(with: siteBundleRead),
                    returnBundleRead: previous.returnBundleRead.best(with: returnBundleRead),
                    hubSettings: hubSettings, siteSettings: siteSettings, siteBundleBytes: export.bundle.bytes,
                    returnBundleBytes: written.bundle.bytes, setup: setup)
            } else {
                best = result
            }
        }
        return best!
    }

    /// Creates `beneficiaries` in a new database at `path`, runs `track` (or nothing), then inserts `rows`
    /// generated rows in one transaction through plain SQLite; with tracking on, the capture triggers fire.
    static func fill(path: String, rows: Int, seed: UInt64, track: () throws -> Void = {}) throws
        -> (insertSeconds: Double, generationSeconds: Double)
    {
        do {
            let application = try SyncRawDatabase(path: path)
            try application.execute(SQLiteSchema.createStatement(for: BeneficiaryGenerator.schema))
        }
        try track()
        let application = try SyncRawDatabase(path: path)
        let columns = BeneficiaryGenerator.schema.columns.map { Identifier.quoted($0.name) }
        let insert = try application.prepare(
            "INSERT INTO \(Identifier.quoted(BeneficiaryGenerator.tableName)) (\(columns.joined(separator: ", "))) "
                + "VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))")
        var blocks = RowBlocks(rows: rows, seed: seed)
        var clock = Stopwatch()
        try clock.time { try application.execute("BEGIN IMMEDIATE") }
        while blocks.next() {
            try clock.time { for change in blocks.block { try insert.insert(change.values) } }
        }
        try clock.time { try application.execute("COMMIT") }
        return (clock.seconds, blocks.generation.seconds)
    }

    /// Reads a bundle as an importer does before applying it: verify the signature and digests, decrypt,
    /// decompress, untar and decode every change; applies nothing.
    static func read(
        paths: [String], sender: PublicIdentity, recipient: NodeKeys, rows: Int, memory: inout PeakMemory
    ) throws -> Phase {
        var clock = Stopwatch()
        memory.reset()
        let start = memory.current()
        var decoded = 0
        try clock.time {
            let reader = try BundleReader(paths: paths)
            try reader.verify(sender: sender)
            let contents = try reader.open(recipient: recipient)
            while let batch = try contents.nextBatch() { decoded += try batch.forEach { _ in } }
        }
        guard decoded == rows else { throw BenchError("read \(decoded) changes back, expected \(rows)") }
        return Phase(clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start)
    }
}
