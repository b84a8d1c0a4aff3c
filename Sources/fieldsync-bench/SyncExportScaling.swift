import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import FieldSyncSite
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Goal 3 of `fieldsync-bench sync`: a site export of one changed row costs about the same in a table of 10^6
/// rows as in one of 10^4, because an export reads the changes, never the table.
///
/// Each site is built cheaply: the rows go in before tracking, in one transaction; `SiteStore.install` then enrols
/// them all under one change-counter value; and everything is acknowledged directly in the bookkeeping with
/// `UPDATE _fieldsync_counter SET acked = value` (what a return bundle acknowledging an export of every row would
/// leave behind, without writing and reading a bundle of 10^6 rows). Then the application changes one row.
///
/// Both sites are built first, then `sync()` flushes what building them left dirty and each exports once untimed;
/// then the timed exports alternate between the two sites, so both meet the same disk and the same neighbours on a
/// shared machine. Each export carries that one row, since nothing acknowledges it in between.
struct SyncExportScaling {
    /// One table size.
    struct Size: Codable {
        var tableRows: Int
        /// Generating and inserting the rows, before tracking (untimed for the goal).
        var insertSeconds: Double
        var generationSeconds: Double
        /// `SiteStore.install`: bookkeeping, triggers, and enrolling every existing row.
        var installSeconds: Double
        /// How the enrolled rows were acknowledged before the change.
        var acknowledgement: String
        var databaseBytes: Int64
        /// Every timed export, in seconds, in run order.
        var runs: [Double]
        var bestSeconds: Double
        var bestCPUSeconds: Double
        var medianSeconds: Double
        /// A `BundleWriter` writing the same one change with the same keys, no SQL: the floor of any export.
        var bundleFloorSeconds: Double
        var bundleBytes: Int64
        var peakMemoryMB: Double
    }

    static let acknowledgement = "SQL: UPDATE _fieldsync_counter SET acked = value (after install enrolled every row)"

    /// A built site with one pending change, and what its export runs measured so far.
    private final class Site {
        let scratch: ScratchDirectory
        let engine: SiteEngine
        let keys: NodeKeys
        let outbox: String
        var size: Size
        var best = Stopwatch()
        var change: Change?

        init(scratch: ScratchDirectory, engine: SiteEngine, keys: NodeKeys, outbox: String, size: Size) {
            self.scratch = scratch
            self.engine = engine
            self.keys = keys
            self.outbox = outbox
            self.size = size
        }
    }

    let seed: UInt64
    let directory: String?
    let logger: Logger

    /// Builds a site of each size, then times `runs` exports of each, alternating.
    func measure(small: Int, large: Int, runs: Int, memory: inout PeakMemory) throws -> (small: Size, large: Size) {
        let hubKeys = try NodeKeys.generate(id: SyncExchange.hubID)
        let sites = [try build(tableRows: small, hub: hubKeys), try build(tableRows: large, hub: hubKeys)]
        // Untimed: write back everything the builds left dirty (1.5 GB at 10^6 rows), which the first export's
        // fsync would otherwise wait for; then one export each to warm the statements and the page cache.
        sync()
        for site in sites { _ = try export(site, hub: hubKeys) }
        for site in sites {
            site.size.runs = []
            site.best = Stopwatch()
        }
        memory.reset()
        for _ in 0..<runs {
            for site in sites {
                let clock = try export(site, hub: hubKeys)
                site.size.runs.append(clock.seconds)
                if site.best.seconds == 0 || clock.seconds < site.best.seconds { site.best = clock }
            }
        }
        let peak = memory.peak()
        for site in sites {
            site.size.bundleFloorSeconds = try floor(site, hub: hubKeys, runs: runs)
            let sorted = site.size.runs.sorted()
            site.size.bestSeconds = site.best.seconds
            site.size.bestCPUSeconds = site.best.cpuSeconds
            site.size.medianSeconds = sorted[sorted.count / 2]
            site.size.peakMemoryMB = Double(peak) / 1e6
        }
        return (sites[0].size, sites[1].size)
    }

    /// A site of `tableRows` rows, tracked, all acknowledged, with one row changed by the application.
    private func build(tableRows: Int, hub: NodeKeys) throws -> Site {
        let scratch = try ScratchDirectory(parent: directory)
        let siteID = "site-x"
        let path = scratch.path + "/\(siteID).sqlite"
        let filled = try SyncExchange.fill(path: path, rows: tableRows, seed: seed)
        var installClock = Stopwatch()
        let store = try installClock.time {
            try SiteStore.install(path: path, siteID: siteID, hubID: SyncExchange.hubID, tables: nil)
        }
        try store.connection.run("UPDATE _fieldsync_counter SET acked = value WHERE id = 1")
        // The application changes one row in the middle of the table, through its own connection.
        do {
            let application = try SyncRawDatabase(path: path)
            try application.execute(
                "UPDATE \(Identifier.quoted(BeneficiaryGenerator.tableName)) SET household_size = household_size + 1 "
                    + "WHERE rowid = \(tableRows / 2 + 1)")
        }
        let pending = try store.status().pendingChanges
        guard pending == 1 else { throw BenchError("\(pending) changes pending before the export, expected 1") }
        let keys = try NodeKeys.generate(id: siteID)
        let engine = try SiteEngine(store: store, keys: keys, hub: hub.identity, logger: logger)
        let outbox = scratch.path + "/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = Size(
            tableRows: tableRows, insertSeconds: filled.insertSeconds, generationSeconds: filled.generationSeconds,
            installSeconds: installClock.seconds, acknowledgement: Self.acknowledgement,
            databaseBytes: (attributes[.size] as? NSNumber)?.int64Value ?? 0, runs: [], bestSeconds: 0,
            bestCPUSeconds: 0, medianSeconds: 0, bundleFloorSeconds: 0, bundleBytes: 0, peakMemoryMB: 0)
        return Site(scratch: scratch, engine: engine, keys: keys, outbox: outbox, size: size)
    }

    /// One timed export of `site`'s pending change; its bundle is checked and removed.
    private func export(_ site: Site, hub: NodeKeys) throws -> Stopwatch {
        var clock = Stopwatch()
        let export = try clock.time {
            try site.engine.export(template: .init(kind: .delta, sequence: 0, directory: site.outbox))
        }
        guard export.changes == 1 else { throw BenchError("the export carried \(export.changes) changes, expected 1") }
        site.size.bundleBytes = export.bundle.bytes
        if site.change == nil { site.change = try Self.firstChange(export.bundle.paths, sender: site.keys, hub: hub) }
        for part in export.bundle.paths { try FileManager.default.removeItem(atPath: part) }
        return clock
    }

    /// The best of `runs` writes of the same one change through `BundleWriter` alone (signing, encryption, fsync),
    /// no SQL: the floor of any export.
    private func floor(_ site: Site, hub: NodeKeys, runs: Int) throws -> Double {
        var best = Double.infinity
        for run in 0..<runs {
            var clock = Stopwatch()
            let written = try clock.time { () throws -> BundleWriter.Result in
                let writer = try BundleWriter(
                    configuration: .init(kind: .delta, sequence: UInt64(run + 1), directory: site.outbox),
                    tables: [BeneficiaryGenerator.schema], sender: site.keys, recipient: hub.identity, logger: logger)
                try writer.append(site.change!, to: BeneficiaryGenerator.tableName)
                return try writer.finish()
            }
            best = min(best, clock.seconds)
            for part in written.paths { try FileManager.default.removeItem(atPath: part) }
        }
        return best
    }

    /// The one change an export carried, read back to feed the floor measurement.
    private static func firstChange(_ paths: [String], sender: NodeKeys, hub: NodeKeys) throws -> Change {
        let reader = try BundleReader(paths: paths)
        try reader.verify(sender: sender.identity)
        let contents = try reader.open(recipient: hub)
        var first: Change?
        while let batch = try contents.nextBatch() {
            _ = try batch.forEach { if first == nil { first = $0 } }
        }
        guard let first else { throw BenchError("the export's bundle holds no change") }
        return first
    }
}
