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
        let simulation = try Simulation(seed: seed)
        for round in 0..<80 {
            simulation.round = round
            try simulation.unreliableRound()
        }
        try simulation.settleAndCheck()
    }
}

/// The world, the random source and what the test knows must hold.
private final class Simulation {
    let seed: UInt64
    var random: SeededGenerator
    let world: SyncWorld
    let siteIDs = ["site-a", "site-b", "site-c"]
    var round = 0

    /// A fresh value for every write, anywhere: a value applied twice or brought back from the past shows.
    var lastHits: Int64 = 0
    /// For each `hits` stamp, the whole row as it was right after that write (shared tables).
    var written: [String: [Int64: [Value]]] = ["shared": [:], "pairs": [:]]
    /// What each site last wrote to its own rows of `owned` (only it edits them): id → (val, hits).
    var owned: [String: [Int64: [Value]]] = [:]

    /// Bundles on the road: delayed or duplicated copies, delivered in some later round.
    var toHub: [(site: String, paths: [String], sequence: UInt64, bundleID: String)] = []
    var toSites: [(site: String, written: SyncWorld.WrittenReturn)] = []
    /// What each receiver has applied, to check what it reports for each arrival.
    var hubLast: [String: UInt64] = [:]
    var hubApplied: [String: Set<String>] = [:]
    var siteLast: [String: UInt64] = [:]
    var siteApplied: [String: Set<String>] = [:]
    var counts = ["lost": 0, "duplicated": 0, "delayed": 0, "conflicts": 0, "superseded": 0, "alreadyApplied": 0]

    init(seed: UInt64) throws {
        self.seed = seed
        random = SeededGenerator(seed: seed)
        world = try SyncWorld(sites: siteIDs, quiet: true) { db in
            try db.execute(
                """
                CREATE TABLE owned (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, val TEXT, hits INTEGER NOT NULL);
                CREATE TABLE shared (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, hits INTEGER NOT NULL);
                CREATE TABLE pairs (
                    k1 TEXT NOT NULL, k2 INTEGER NOT NULL, v REAL, hits INTEGER NOT NULL, PRIMARY KEY (k1, k2));
                CREATE TABLE tags (id INTEGER PRIMARY KEY, x INTEGER, y INTEGER);
                """)
        }
        for id in siteIDs { owned[id] = [:] }
    }

    func context(_ text: String) -> Comment {
        Comment(rawValue: "seed \(seed), round \(round): \(text)")
    }

    func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &random) < probability
    }

    func nextHits() -> Int64 {
        lastHits += 1
        return lastHits
    }

    func randomText() -> Value {
        let pieces = ["north", "south", "café", "tab\there", "new\nline", "back\\slash", "中文", "", "x", "🎉"]
        if chance(0.1) { return .null }
        return .text(pieces.randomElement(using: &random)! + String(Int.random(in: 0..<1000, using: &random)))
    }

    // MARK: Rounds

    func unreliableRound() throws {
        try edits(count: Int.random(in: 0...4, using: &random))
        // Sites write bundles; each meets its fate; the hub takes whatever arrives this round, in any order.
        var arriving: [(site: String, paths: [String], sequence: UInt64, bundleID: String)] = []
        for site in siteIDs where chance(0.75) {
            let export = try world.exportSiteBundle(site)
            let bundle = (site, export.bundle.paths, export.bundle.header.sequence, export.bundle.header.bundleID)
            switch fate() {
            case .deliver: arriving.append(bundle)
            case .lose: counts["lost", default: 0] += 1
            case .duplicate: arriving.append(bundle); toHub.append(bundle); counts["duplicated", default: 0] += 1
            case .delay: toHub.append(bundle); counts["delayed", default: 0] += 1
            }
        }
        arriving += takeSome(&toHub)
        arriving.shuffle(using: &random)
        for bundle in arriving { try deliverToHub(bundle) }

        try edits(count: Int.random(in: 0...2, using: &random))
        var returning: [(site: String, written: SyncWorld.WrittenReturn)] = []
        for site in siteIDs where chance(0.75) {
            let entry = (site, try world.exportReturnBundle(site))
            switch fate() {
            case .deliver: returning.append(entry)
            case .lose: counts["lost", default: 0] += 1
            case .duplicate: returning.append(entry); toSites.append(entry); counts["duplicated", default: 0] += 1
            case .delay: toSites.append(entry); counts["delayed", default: 0] += 1
            }
        }
        returning += takeSome(&toSites)
        returning.shuffle(using: &random)
        for entry in returning { try deliverToSite(entry.site, entry.written) }
    }

    enum Fate { case deliver, lose, duplicate, delay }

    func fate() -> Fate {
        let roll = Double.random(in: 0..<1, using: &random)
        return roll < 0.5 ? .deliver : roll < 0.65 ? .lose : roll < 0.8 ? .duplicate : .delay
    }

    /// Removes and returns a random part of `pool`.
    func takeSome<T>(_ pool: inout [T]) -> [T] {
        var taken: [T] = []
        var kept: [T] = []
        for item in pool {
            if chance(0.35) { taken.append(item) } else { kept.append(item) }
        }
        pool = kept
        return taken
    }

    // MARK: Delivery, with the report checked against what the receiver has seen

    func deliverToHub(_ bundle: (site: String, paths: [String], sequence: UInt64, bundleID: String)) throws {
        let report = try world.deliverToHub(bundle.paths)
        let last = hubLast[bundle.site, default: 0]
        if bundle.sequence > last {
            #expect(report.status == .applied, context("hub, bundle \(bundle.site)#\(bundle.sequence)"))
            let missed: ClosedRange<UInt64>? = bundle.sequence > last + 1 ? (last + 1)...(bundle.sequence - 1) : nil
            #expect(report.missedSequences == missed, context("hub, bundle \(bundle.site)#\(bundle.sequence)"))
            hubLast[bundle.site] = bundle.sequence
            hubApplied[bundle.site, default: []].insert(bundle.bundleID)
            #expect(report.rejected == 0, context("hub rejected rows of \(bundle.site)#\(bundle.sequence)"))
            counts["conflicts", default: 0] += report.conflicts
        } else {
            let expected: IngestReport.Status =
                hubApplied[bundle.site, default: []].contains(bundle.bundleID) ? .alreadyApplied : .superseded
            #expect(report.status == expected, context("hub, old bundle \(bundle.site)#\(bundle.sequence)"))
            #expect(report.applied + report.conflicts + report.rejected == 0, context("hub, old bundle"))
            counts[expected == .superseded ? "superseded" : "alreadyApplied", default: 0] += 1
        }
    }

    func deliverToSite(_ site: String, _ written: SyncWorld.WrittenReturn) throws {
        let report = try world.deliverToSite(site, written.paths)
        let last = siteLast[site, default: 0]
        if written.sequence > last {
            #expect(report.status == .applied, context("\(site), return #\(written.sequence)"))
            let missed: ClosedRange<UInt64>? = written.sequence > last + 1 ? (last + 1)...(written.sequence - 1) : nil
            #expect(report.missedSequences == missed, context("\(site), return #\(written.sequence)"))
            siteLast[site] = written.sequence
            siteApplied[site, default: []].insert(written.bundleID)
        } else {
            #expect(report.applied == 0, context("\(site), old return #\(written.sequence)"))
            let expected: SiteImport.Status =
                siteApplied[site, default: []].contains(written.bundleID) ? .alreadyApplied : .superseded
            #expect(report.status == expected, context("\(site), old return #\(written.sequence)"))
            counts[report.status == .superseded ? "superseded" : "alreadyApplied", default: 0] += 1
        }
    }

    // MARK: Edits

    func edits(count: Int) throws {
        for _ in 0..<count {
            let roll = Double.random(in: 0..<1, using: &random)
            if roll < 0.15 {
                try staffEdit()
            } else {
                let site = siteIDs.randomElement(using: &random)!
                let table = Double.random(in: 0..<1, using: &random)
                if table < 0.35 {
                    try ownedEdit(at: site)
                } else if table < 0.65 {
                    try sharedEdit(world.site(site).database, atHub: false)
                } else if table < 0.8 {
                    try pairsEdit(world.site(site).database, atHub: false)
                } else {
                    try tagsEdit(world.site(site).database, atHub: false)
                }
            }
        }
    }

    /// A site edits one of its own rows (ids 1000·n …): insert, update or delete.
    func ownedEdit(at site: String) throws {
        let db = world.site(site).database
        let base = Int64(1000 * (siteIDs.firstIndex(of: site)! + 1))
        let id = base + Int64.random(in: 0..<12, using: &random)
        let exists = try db.scalar("SELECT 1 FROM owned WHERE id = ?", [.integer(id)]) != nil
        let hits = nextHits()
        if !exists {
            let val = randomText()
            try db.run("INSERT INTO owned VALUES (?, ?, ?, ?)", [.integer(id), .text(site), val, .integer(hits)])
            owned[site]![id] = [val, .integer(hits)]
        } else if chance(0.7) {
            let val = randomText()
            try db.run("UPDATE owned SET val = ?, hits = ? WHERE id = ?", [val, .integer(hits), .integer(id)])
            owned[site]![id] = [val, .integer(hits)]
        } else {
            try db.run("DELETE FROM owned WHERE id = ?", [.integer(id)])
            owned[site]![id] = nil
        }
    }

    /// HQ staff at the hub edit a shared row (never a site's own rows).
    func staffEdit() throws {
        let roll = Double.random(in: 0..<1, using: &random)
        if roll < 0.5 {
            try sharedEdit(world.hubDatabase, atHub: true)
        } else if roll < 0.75 {
            try pairsEdit(world.hubDatabase, atHub: true)
        } else {
            try tagsEdit(world.hubDatabase, atHub: true)
        }
    }

    /// `tags` (ids 0 … 3, values 0 … 2, no `hits`): concurrent edits are often identical, or identical in the
    /// columns they touch.
    func tagsEdit(_ db: SQLiteConnection, atHub: Bool) throws {
        let live = atHub ? " AND sync_deleted = 0" : ""
        let id = Value.integer(Int64.random(in: 0..<4, using: &random))
        func small() -> Value { .integer(Int64.random(in: 0..<3, using: &random)) }
        if try db.scalar("SELECT 1 FROM tags WHERE id = ?\(live)", [id]) == nil {
            let verb = atHub ? "INSERT OR REPLACE" : "INSERT"
            try db.run("\(verb) INTO tags (id, x, y) VALUES (?, ?, ?)", [id, small(), small()])
            return
        }
        switch Int.random(in: 0..<5, using: &random) {
        case 0: try db.run("UPDATE tags SET x = ? WHERE id = ?", [small(), id])
        case 1: try db.run("UPDATE tags SET y = ? WHERE id = ?", [small(), id])
        case 2: try db.run("DELETE FROM tags WHERE id = ?", [id])
        default: try db.run("UPDATE tags SET x = ?, y = ? WHERE id = ?", [small(), small(), id])
        }
    }

    /// Insert, update of some columns, delete or key change of a row of `shared` (ids 0 … 11), by a site's app
    /// or by staff at the hub.
    func sharedEdit(_ db: SQLiteConnection, atHub: Bool) throws {
        let live = atHub ? " AND sync_deleted = 0" : ""
        let id = Int64.random(in: 0..<12, using: &random)
        let exists = try db.scalar("SELECT 1 FROM shared WHERE id = ?\(live)", [.integer(id)]) != nil
        let hits = Value.integer(nextHits())
        var key = id
        if !exists {
            // Over a hub tombstone, staff replace the dead row.
            let verb = atHub ? "INSERT OR REPLACE" : "INSERT"
            try db.run(
                "\(verb) INTO shared (id, a, b, hits) VALUES (?, ?, ?, ?)",
                [.integer(id), randomText(), .integer(Int64.random(in: -5...5, using: &random)), hits])
        } else {
            let roll = Double.random(in: 0..<1, using: &random)
            if roll < 0.2 {
                try db.run("DELETE FROM shared WHERE id = ?", [.integer(id)])
                return
            } else if roll < 0.35, let free = try freeSharedKey(db, atHub: atHub) {
                try db.run("UPDATE shared SET id = ?, hits = ? WHERE id = ?", [.integer(free), hits, .integer(id)])
                key = free
            } else {
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    try db.run("UPDATE shared SET a = ?, hits = ? WHERE id = ?", [randomText(), hits, .integer(id)])
                case 1:
                    try db.run("UPDATE shared SET b = b + 1, hits = ? WHERE id = ?", [hits, .integer(id)])
                default:
                    try db.run(
                        "UPDATE shared SET a = ?, b = ?, hits = ? WHERE id = ?",
                        [randomText(), .integer(Int64.random(in: -5...5, using: &random)), hits, .integer(id)])
                }
            }
        }
        let row = try db.query("SELECT id, a, b, hits FROM shared WHERE id = ?", [.integer(key)])
        written["shared"]![hits.integerValue!] = row.first
    }

    /// A key in 0 … 11 that no row uses here (at the hub: not even a tombstone, which staff cannot move onto).
    func freeSharedKey(_ db: SQLiteConnection, atHub: Bool) throws -> Int64? {
        let used = Set(try db.query("SELECT id FROM shared").compactMap { $0[0].integerValue })
        return (0..<12).filter { !used.contains($0) }.randomElement(using: &random)
    }

    /// The same for `pairs`, with a two-column key (k1 in n, s; k2 in 0 … 3); key changes move either part.
    func pairsEdit(_ db: SQLiteConnection, atHub: Bool) throws {
        let live = atHub ? " AND sync_deleted = 0" : ""
        let k1 = Value.text(["n", "s"].randomElement(using: &random)!)
        let k2 = Value.integer(Int64.random(in: 0..<4, using: &random))
        let exists = try db.scalar("SELECT 1 FROM pairs WHERE k1 = ? AND k2 = ?\(live)", [k1, k2]) != nil
        let hits = Value.integer(nextHits())
        var key = [k1, k2]
        let v = Value.real(Double(Int.random(in: -1000...1000, using: &random)) / 8)
        if !exists {
            let verb = atHub ? "INSERT OR REPLACE" : "INSERT"
            try db.run("\(verb) INTO pairs (k1, k2, v, hits) VALUES (?, ?, ?, ?)", [k1, k2, v, hits])
        } else {
            let roll = Double.random(in: 0..<1, using: &random)
            let used = Set(try db.query("SELECT k1, k2 FROM pairs").map { $0 })
            let free = (["n", "s"] as [String]).flatMap { a in
                (0..<4).map { [Value.text(a), Value.integer(Int64($0))] }
            }
            .filter { !used.contains($0) }
            if roll < 0.2 {
                try db.run("DELETE FROM pairs WHERE k1 = ? AND k2 = ?", [k1, k2])
                return
            } else if roll < 0.35, let target = free.randomElement(using: &random) {
                try db.run(
                    "UPDATE pairs SET k1 = ?, k2 = ?, hits = ? WHERE k1 = ? AND k2 = ?",
                    [target[0], target[1], hits, k1, k2])
                key = target
            } else {
                try db.run("UPDATE pairs SET v = ?, hits = ? WHERE k1 = ? AND k2 = ?", [v, hits, k1, k2])
            }
        }
        let row = try db.query("SELECT k1, k2, v, hits FROM pairs WHERE k1 = ? AND k2 = ?", key)
        written["pairs"]![hits.integerValue!] = row.first
    }

    // MARK: The end

    func settleAndCheck() throws {
        print("RandomizedExchangeTests seed \(seed): \(lastHits) writes, \(counts.sorted { $0.key < $1.key })")
        try world.exchangeRounds(3)
        #expect(throws: Never.self, context("converged")) { try world.expectConverged() }
        #expect(throws: Never.self, context("identical")) { try world.expectIdentical() }
        for site in siteIDs {
            #expect(try world.pendingChanges(site) == 0, context("\(site) has pending changes"))
        }

        // Each site's own rows: exactly what it last wrote, at the site itself, at the hub and so everywhere.
        for site in siteIDs {
            let expected = owned[site]!.sorted { $0.key < $1.key }.map { [Value.integer($0.key)] + $0.value }
            let local = try world.site(site).database.query(
                "SELECT id, val, hits FROM owned WHERE owner = ? ORDER BY id", [.text(site)])
            let hub = try world.hubDatabase.query(
                "SELECT id, val, hits FROM owned WHERE owner = ? AND sync_deleted = 0 ORDER BY id", [.text(site)])
            #expect(SyncWorld.firstDifference(local, expected) == nil, context("\(site)'s own rows at \(site)"))
            #expect(SyncWorld.firstDifference(hub, expected) == nil, context("\(site)'s own rows at the hub"))
        }
        #expect(
            try world.hubDatabase.scalar("SELECT count(*) FROM _fieldsync_conflicts WHERE tbl = 'owned'")
                == .integer(0), context("conflicts on rows only their owner edits"))
        #expect(
            try world.hubDatabase.scalar("SELECT count(*) FROM _fieldsync_rejected") == .integer(0),
            context("rejected rows"))

        // Every live row of the shared tables is a row that some write produced, whole.
        for (table, columns) in [("shared", "id, a, b, hits"), ("pairs", "k1, k2, v, hits")] {
            for row in try world.hubDatabase.query("SELECT \(columns) FROM \(table) WHERE sync_deleted = 0") {
                let stamp = row.last!.integerValue!
                let original = written[table]![stamp]
                #expect(
                    original.map { SyncWorld.firstDifference([row], [$0]) == nil } == true,
                    context("\(table) row with hits \(stamp) is not a row that was ever written"))
            }
        }

        // Quiet now: nothing more travels.
        let version = try world.hubVersion()
        for site in siteIDs {
            #expect(try world.exportSiteBundle(site).changes == 0, context("\(site) still exports changes"))
        }
        // Bundles still on the road arrive late, in any order: harmless.
        var late = toHub
        late.shuffle(using: &random)
        for bundle in late {
            let report = try world.deliverToHub(bundle.paths)
            #expect(report.status != .applied, context("late bundle \(bundle.site)#\(bundle.sequence) applied"))
        }
        var lateReturns = toSites
        lateReturns.shuffle(using: &random)
        for entry in lateReturns {
            let report = try world.deliverToSite(entry.site, entry.written.paths)
            #expect(report.status != .applied, context("late return \(entry.site)#\(entry.written.sequence) applied"))
        }
        try world.exchangeRounds(1)
        #expect(try world.hubVersion() == version, context("hub version moved while quiet"))
        #expect(throws: Never.self, context("identical after late arrivals")) { try world.expectIdentical() }
    }
}
