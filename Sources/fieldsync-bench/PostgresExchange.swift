import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncPostgres
import FieldSyncSQLite
import FieldSyncSite
import Foundation
import Logging

/// Parts 1–3 of `fieldsync-bench postgres`: the PostgreSQL hub ingesting a site bundle of new rows, then one of the
/// same rows updated, each next to a raw `COPY` of the same rows in the same database; and the hub's return export
/// of every row for a new site.
///
/// Site A (SQLite) is tracked, then its application inserts the generated rows and it exports a delta bundle; the
/// hub ingests it (timed: `HubEngine.importBundle`). Site A's application then changes every row once
/// (`household_size + 1`) and exports again; the hub ingests that (timed): the keys exist, so the COPY staging
/// attempt is rolled back and the batch goes row by row. Each limit is one `COPY … FROM STDIN` (the store's
/// `CopyWriter`, one transaction) of the same values into an empty table created `LIKE` the synced table
/// `INCLUDING DEFAULTS, CONSTRAINTS, INDEXES` (primary key and sync_version index, four sync columns given
/// literally, no triggers), in the same database. Generation and bundle writing are excluded.
struct PostgresExchange {
    struct Result: Codable {
        var newIngest: Phase
        var newLimit: Phase
        var updateIngest: Phase
        var updateLimit: Phase
        var returnExport: Phase
        var returnRows: Int
        var siteBundleBytes: Int64
        var updateBundleBytes: Int64
        var returnBundleBytes: Int64
        var setup: [String: Double]
    }

    static let hubID = "hub"
    static let sourceSite = BeneficiaryGenerator.origin
    static let targetSite = "site-b"

    let rows: Int
    let seed: UInt64
    let directory: String?
    let databases: PostgresScratchDatabases
    let logger: Logger

    func measure(memory: inout PeakMemory, progress: (String) -> Void) throws -> Result {
        let table = BeneficiaryGenerator.tableName
        let scratch = try ScratchDirectory(parent: directory)
        let hubKeys = try NodeKeys.generate(id: Self.hubID)
        let sourceKeys = try NodeKeys.generate(id: Self.sourceSite)
        let targetKeys = try NodeKeys.generate(id: Self.targetSite)
        var setup: [String: Double] = [:]

        progress("site A: \(rows) rows and its bundle")
        let sourcePath = scratch.path + "/\(Self.sourceSite).sqlite"
        let filled = try SyncExchange.fill(path: sourcePath, rows: rows, seed: seed) {
            _ = try SiteStore.install(path: sourcePath, siteID: Self.sourceSite, hubID: Self.hubID, tables: nil)
        }
        setup["site_a_fill_with_triggers"] = filled.insertSeconds
        let source = try SiteEngine(
            store: try SiteStore(path: sourcePath), keys: sourceKeys, hub: hubKeys.identity, logger: logger)
        let outbox = scratch.path + "/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let export = try source.export(template: .init(kind: .delta, sequence: 0, directory: outbox))
        guard export.changes == rows else {
            throw BenchError("site A exported \(export.changes) changes, expected \(rows)")
        }

        let configuration = try databases.create("ingest")
        let store = try PostgresHubStore.create(configuration: configuration, hubID: Self.hubID)
        try store.addTable(name: table, schema: BeneficiaryGenerator.schema)
        try store.registerSite(id: Self.sourceSite, name: Self.sourceSite, publicKey: sourceKeys.identity.line)
        try store.registerSite(id: Self.targetSite, name: Self.targetSite, publicKey: targetKeys.identity.line)
        let hub = try HubEngine(store: store, keys: hubKeys, logger: logger)
        let raw = store.connection

        // 1. New rows.
        progress("hub ingest of \(rows) new rows")
        try raw.execute("CHECKPOINT")
        let newIngest = try Self.phase(&memory) {
            let report = try hub.importBundle(paths: export.bundle.paths)
            guard report.applied == rows, report.rejected == 0, report.conflicts == 0 else {
                throw BenchError(
                    "the hub applied \(report.applied) rows (\(report.rejected) rejected, \(report.conflicts) "
                        + "conflicts), expected \(rows)")
            }
        }
        progress("raw COPY of the same rows")
        var generation = Stopwatch()
        let newFields = generation.time {
            PostgresRawCopy.fields(rows: rows, seed: seed, updated: false, origin: Self.sourceSite)
        }
        setup["raw_generation"] = generation.seconds
        try PostgresRawCopy.createLike(raw, table: "raw_new", source: table)
        try raw.execute("CHECKPOINT")
        let newLimit = try Self.timedPhase(&memory) { clock in
            let copied = try PostgresRawCopy.copy(
                raw, table: "raw_new", fields: newFields, withSyncColumns: true, clock: &clock)
            guard copied == rows else { throw BenchError("raw COPY wrote \(copied) rows, expected \(rows)") }
        }
        try raw.execute("DROP TABLE raw_new")

        // 3. Return bundle of every row for a new site.
        progress("return export of \(rows) rows for an empty site")
        let returnDirectory = scratch.path + "/return"
        try FileManager.default.createDirectory(atPath: returnDirectory, withIntermediateDirectories: true)
        try raw.execute("CHECKPOINT")
        var returnRows = 0
        var returnBytes: Int64 = 0
        let returnExport = try Self.phase(&memory) {
            let written = try hub.exportReturn(
                for: Self.targetSite, template: .init(kind: .return, sequence: 0, directory: returnDirectory))
            returnRows = written.rows
            returnBytes = written.bundle.bytes
        }
        guard returnRows == rows else { throw BenchError("return bundle carries \(returnRows) rows, expected \(rows)") }

        // 2. Every row updated once at the site.
        progress("site A: every row updated, and its bundle")
        var updateClock = Stopwatch()
        try updateClock.time {
            let application = try SyncRawDatabase(path: sourcePath)
            try application.execute(
                "UPDATE \(Identifier.quoted(table)) SET household_size = household_size + 1")
        }
        setup["site_a_update_with_triggers"] = updateClock.seconds
        let updates = try source.export(template: .init(kind: .delta, sequence: 0, directory: outbox))
        guard updates.changes == rows else {
            throw BenchError("site A exported \(updates.changes) changes after the update, expected \(rows)")
        }
        progress("hub ingest of \(rows) updated rows")
        try raw.execute("CHECKPOINT")
        let updateIngest = try Self.phase(&memory) {
            let report = try hub.importBundle(paths: updates.bundle.paths)
            guard report.applied == rows, report.rejected == 0, report.conflicts == 0 else {
                throw BenchError(
                    "the hub applied \(report.applied) updated rows (\(report.rejected) rejected, "
                        + "\(report.conflicts) conflicts, \(report.alreadyApplied) already applied, "
                        + "\(report.unchanged) unchanged), expected \(rows)")
            }
        }
        progress("raw COPY of the same updated rows")
        let updatedFields = PostgresRawCopy.fields(rows: rows, seed: seed, updated: true, origin: Self.sourceSite)
        try PostgresRawCopy.createLike(raw, table: "raw_updated", source: table)
        try raw.execute("CHECKPOINT")
        let updateLimit = try Self.timedPhase(&memory) { clock in
            let copied = try PostgresRawCopy.copy(
                raw, table: "raw_updated", fields: updatedFields, withSyncColumns: true, clock: &clock)
            guard copied == rows else { throw BenchError("raw COPY wrote \(copied) rows, expected \(rows)") }
        }
        try raw.execute("DROP TABLE raw_updated")

        return Result(
            newIngest: newIngest, newLimit: newLimit, updateIngest: updateIngest, updateLimit: updateLimit,
            returnExport: returnExport, returnRows: returnRows, siteBundleBytes: export.bundle.bytes,
            updateBundleBytes: updates.bundle.bytes, returnBundleBytes: returnBytes, setup: setup)
    }

    /// Times `body` as one phase.
    static func phase(_ memory: inout PeakMemory, _ body: () throws -> Void) throws -> Phase {
        try timedPhase(&memory) { (clock: inout Stopwatch) in try clock.time(body) }
    }

    /// A phase whose body times its own parts on `clock`.
    static func timedPhase(_ memory: inout PeakMemory, _ body: (inout Stopwatch) throws -> Void) throws -> Phase {
        memory.reset()
        let start = memory.current()
        var clock = Stopwatch()
        try body(&clock)
        return Phase(clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start)
    }
}
