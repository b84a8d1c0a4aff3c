import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

/// The randomized exchange scenario of `RandomizedExchangeTests` (random edits, bundles lost, duplicated, delayed
/// and reordered both ways; see ``RandomizedExchange``) with the hub on PostgreSQL, checked exactly as with the
/// embedded store (which `RandomizedExchangeTests` runs with 80 rounds). Fewer rounds here: every PostgreSQL
/// ingest and return is a few round trips.
///
/// Replay a failure with `FIELDSYNC_SYNC_SEED=<seed>`; soak with a range, `FIELDSYNC_SYNC_SEED=1-50`.
@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct RandomizedExchangePostgresHubTests {
    static let rounds = 40

    static let seeds: [UInt64] = {
        if let text = ProcessInfo.processInfo.environment["FIELDSYNC_SYNC_SEED"] {
            let bounds = text.split(separator: "-").compactMap { UInt64($0) }
            if bounds.count == 1 { return bounds }
            if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
        }
        return [0x5EED_0001, 0x5EED_0002, 0xF1E1_D5EC]
    }()

    @Test(arguments: seeds)
    func randomEditsOverAnUnreliableRoadConvergeWithAPostgresHub(seed: UInt64) throws {
        print("RandomizedExchangePostgresHubTests seed \(seed) (replay with FIELDSYNC_SYNC_SEED=\(seed))")
        let simulation = try RandomizedExchange(seed: seed, hub: .postgres) { ok, message in
            #expect(ok, Comment(rawValue: message))
        }
        try simulation.run(rounds: Self.rounds)
    }

    /// The same with the site's version winning conflicts, or the later edit.
    @Test(arguments: [ConflictStrategy.clientWins, .lastWriteWins], seeds.prefix(1))
    func otherRulesConvergeWithAPostgresHub(strategy: ConflictStrategy, seed: UInt64) throws {
        let simulation = try RandomizedExchange(seed: seed, hub: .postgres, strategy: strategy) { ok, message in
            #expect(ok, Comment(rawValue: "\(strategy.rawValue): \(message)"))
        }
        try simulation.run(rounds: Self.rounds)
    }
}
