import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Three sites and a hub under random edits and an unreliable road: every bundle, both ways, may be lost,
/// duplicated, delayed to a later round or reordered. After a few reliable rounds every site must equal the hub,
/// nothing may be pending, each site's own rows must hold exactly what it last wrote, and no row may hold a value
/// that was never written together with its `hits` stamp. A small `tags` table with few possible values makes
/// identical edits (judged "unchanged" at the hub) common.
///
/// Replay a failure with `FIELDSYNC_SYNC_SEED=<seed> swift test --filter RandomizedExchangeTests`; soak with a
/// range of seeds, `FIELDSYNC_SYNC_SEED=1-500`.
@Suite struct RandomizedExchangeTests {
    static let seeds: [UInt64] = {
        if let text = ProcessInfo.processInfo.environment["FIELDSYNC_SYNC_SEED"] {
            let bounds = text.split(separator: "-").compactMap { UInt64($0) }
            if bounds.count == 1 { return bounds }
            if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
        }
        return [0x5EED_0001, 0x5EED_0002, 0x5EED_0003, 0xF1E1_D5EC]
    }()

    @Test(arguments: seeds)
    func randomEditsOverAnUnreliableRoadConverge(seed: UInt64) throws {
        print("RandomizedExchangeTests seed \(seed) (replay with FIELDSYNC_SYNC_SEED=\(seed))")
        // The scenario lives in FieldSyncTesting (`RandomizedExchange`), so that it also runs against a PostgreSQL
        // hub (FieldSyncPostgresTests).
        let simulation = try RandomizedExchange(seed: seed) { ok, message in #expect(ok, Comment(rawValue: message)) }
        try simulation.run(rounds: 80)
    }

    /// The same road with the site's version winning conflicts, or the later edit: every node still ends equal.
    @Test(arguments: [ConflictStrategy.clientWins, .lastWriteWins], seeds.prefix(2))
    func otherRulesConvergeToo(strategy: ConflictStrategy, seed: UInt64) throws {
        print("RandomizedExchangeTests \(strategy.rawValue) seed \(seed) (replay with FIELDSYNC_SYNC_SEED=\(seed))")
        let simulation = try RandomizedExchange(seed: seed, strategy: strategy) { ok, message in
            #expect(ok, Comment(rawValue: "\(strategy.rawValue): \(message)"))
        }
        try simulation.run(rounds: 60)
    }
}
