import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncPostgres
import Foundation
import Logging

/// Part 4 of `fieldsync-bench postgres`: a return export of one changed row costs about the same from a hub table
/// of 10^6 rows as from one of 10^4, because the plan reads versions above the site's acknowledgement through the
/// sync_version index, never the table.
///
/// Each hub is a fresh database: `PostgresHubStore.addTable` creates the synced table with its triggers, the rows go
/// in with one raw `COPY` (the stamping trigger gives each a version), `ANALYZE`, then the site is acknowledged up to
/// the last version directly in `sync_control.client_state.last_sync_version` (the column the store's ingest
/// advances when a site acknowledges returns). One row is changed with SQL; each timed `exportReturn` carries it
/// (nothing acknowledges it in between). One untimed export each, then the timed ones alternate.
struct PostgresExportScaling {
    struct Size: Codable {
        var tableRows: Int
        var buildSeconds: Double
        var acknowledgement: String
        var tableBytes: Int64
        var runs: [Double]
        var bestSeconds: Double
        var bestCPUSeconds: Double
        var medianSeconds: Double
    }

    static let siteID = "site-x"
    static let acknowledgement =
        "SQL: UPDATE sync_control.client_state SET last_sync_version = (SELECT max(sync_version) FROM beneficiaries)"

    private final class Hub {
        let engine: HubEngine
        let outbox: String
        var size: Size
        var best = Stopwatch()

        init(engine: HubEngine, outbox: String, size: Size) {
            self.engine = engine
            self.outbox = outbox
            self.size = size
        }
    }

    let seed: UInt64
    let directory: String?
    let databases: PostgresScratchDatabases
    let logger: Logger

    func measure(small: Int, large: Int, runs: Int, progress: (String) -> Void) throws
        -> (small: Size, large: Size)
    {
        let scratch = try ScratchDirectory(parent: directory)
        let hubKeys = try NodeKeys.generate(id: PostgresExchange.hubID)
        let siteKeys = try NodeKeys.generate(id: Self.siteID)
        var hubs: [Hub] = []
        for count in [small, large] {
            progress("hub table of \(count) rows (raw COPY through the triggers)")
            hubs.append(try build(tableRows: count, hubKeys: hubKeys, siteKeys: siteKeys, scratch: scratch))
        }
        for hub in hubs { _ = try export(hub) }
        progress("timing \(runs) one-row return exports each, alternating")
        for _ in 0..<runs {
            for hub in hubs {
                let clock = try export(hub)
                hub.size.runs.append(clock.seconds)
                if hub.best.seconds == 0 || clock.seconds < hub.best.seconds { hub.best = clock }
            }
        }
        for hub in hubs {
            hub.size.bestSeconds = hub.best.seconds
            hub.size.bestCPUSeconds = hub.best.cpuSeconds
            let sorted = hub.size.runs.sorted()
            hub.size.medianSeconds = sorted[sorted.count / 2]
        }
        return (hubs[0].size, hubs[1].size)
    }

    private func build(tableRows: Int, hubKeys: NodeKeys, siteKeys: NodeKeys, scratch: ScratchDirectory) throws
        -> Hub
    {
        let table = BeneficiaryGenerator.tableName
        let configuration = try databases.create("export_\(tableRows)")
        let store = try PostgresHubStore.create(configuration: configuration, hubID: PostgresExchange.hubID)
        try store.addTable(name: table, schema: BeneficiaryGenerator.schema)
        try store.registerSite(id: Self.siteID, name: Self.siteID, publicKey: siteKeys.identity.line)
        let connection = store.connection
        let columns = BeneficiaryGenerator.schema.columns.map { Identifier.quoted($0.name) }
        var clock = Stopwatch()
        var blocks = RowBlocks(rows: tableRows, seed: seed)
        try clock.time {
            _ = try connection.withTransaction {
                try connection.copyIn(
                    "COPY \(Identifier.quoted(table)) (\(columns.joined(separator: ", "))) FROM STDIN"
                ) { writer in
                    while blocks.next() {
                        for change in blocks.block { try writer.row(change.values.map(PostgresTypes.parameter)) }
                    }
                }
            }
            try connection.execute("ANALYZE \(Identifier.quoted(table))")
        }
        let counted = try connection.integer("SELECT count(*) FROM \(Identifier.quoted(table)) WHERE sync_version > 0")
        guard counted == tableRows else { throw BenchError("\(counted) stamped rows, expected \(tableRows)") }
        try connection.run(
            "UPDATE sync_control.client_state SET last_sync_version = "
                + "(SELECT max(sync_version) FROM \(Identifier.quoted(table))) WHERE client_id = $1", [Self.siteID])
        try connection.run(
            "UPDATE \(Identifier.quoted(table)) SET household_size = coalesce(household_size, 0) + 1 WHERE id = "
                + "(SELECT id FROM \(Identifier.quoted(table)) ORDER BY sync_version OFFSET \(tableRows / 2) LIMIT 1)")
        try connection.execute("CHECKPOINT")
        let bytes = try connection.integer("SELECT pg_total_relation_size($1::regclass)", [Identifier.quoted(table)])
        let engine = try HubEngine(store: store, keys: hubKeys, logger: logger)
        let outbox = scratch.path + "/outbox-\(tableRows)"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let size = Size(
            tableRows: tableRows, buildSeconds: clock.seconds, acknowledgement: Self.acknowledgement,
            tableBytes: bytes, runs: [], bestSeconds: 0, bestCPUSeconds: 0, medianSeconds: 0)
        return Hub(engine: engine, outbox: outbox, size: size)
    }

    private func export(_ hub: Hub) throws -> Stopwatch {
        var clock = Stopwatch()
        let written = try clock.time {
            try hub.engine.exportReturn(
                for: Self.siteID, template: .init(kind: .return, sequence: 0, directory: hub.outbox))
        }
        guard written.rows == 1 else { throw BenchError("the return export carried \(written.rows) rows, expected 1") }
        for part in written.bundle.paths { try FileManager.default.removeItem(atPath: part) }
        return clock
    }
}
