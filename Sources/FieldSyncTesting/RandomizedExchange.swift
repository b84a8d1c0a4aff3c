import FieldSyncCore
import FieldSyncSQLite
import Foundation

/// The randomized exchange scenario of `RandomizedExchangeTests`, runnable against either hub store: three sites
/// and a hub under random edits and an unreliable road (every bundle, both ways, may be lost, duplicated, delayed
/// to a later round or reordered). After a few reliable rounds every site must equal the hub, nothing may be
/// pending, each site's own rows must hold exactly what it last wrote, and no row may hold a value that was never
/// written together with its `hits` stamp. A small `tags` table with few possible values makes identical edits
/// (judged "unchanged" at the hub) common.
///
/// Holds the world, the random source and what the test knows must hold.
public final class RandomizedExchange {
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

    /// The hub's database as HQ staff edit it.
    var hubTarget: EditTarget {
        if let database = world.hubDatabase { return EditTarget(site: database, atHub: true) }
        return EditTarget(postgres: world.hubSQL)
    }

    /// Receives every check: whether it held, and a message naming the seed and round.
    let check: (Bool, String) -> Void

    /// - Parameters:
    ///   - hub: the hub store the world runs on.
    ///   - strategy: the conflict rule of the tables several nodes edit (whole-row strategies only: a merged
    ///     row would hold values never written together, which the checks refuse).
    ///   - check: called for every assertion (a test passes `{ #expect($0, Comment(rawValue: $1)) }`).
    public init(
        seed: UInt64, hub kind: HubStoreKind = .sqlite, strategy: ConflictStrategy = .serverWins,
        check: @escaping (Bool, String) -> Void
    ) throws {
        self.seed = seed
        self.check = check
        random = SeededGenerator(seed: seed)
        world = try SyncWorld(sites: siteIDs, quiet: true, hub: kind) { db in
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
        precondition(strategy != .fieldMerge && strategy != .manual, "the checks need whole rows that settle")
        for table in ["shared", "pairs", "tags"] { try world.setRule(table, strategy) }
    }

    func context(_ text: String) -> String {
        "seed \(seed), round \(round), \(world.hubKind) hub: \(text)"
    }

    /// Runs `rounds` unreliable rounds, then settles and checks everything.
    public func run(rounds: Int) throws {
        for round in 0..<rounds {
            self.round = round
            try unreliableRound()
        }
        try settleAndCheck()
    }

    /// Reports a check that throws as failed, with the error.
    func expectNoThrow(_ message: String, _ body: () throws -> Void) {
        do {
            try body()
            check(true, message)
        } catch {
            check(false, "\(message): \(error)")
        }
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
            check(report.status == .applied, context("hub, bundle \(bundle.site)#\(bundle.sequence)"))
            let missed: ClosedRange<UInt64>? = bundle.sequence > last + 1 ? (last + 1)...(bundle.sequence - 1) : nil
            check(report.missedSequences == missed, context("hub, bundle \(bundle.site)#\(bundle.sequence)"))
            hubLast[bundle.site] = bundle.sequence
            hubApplied[bundle.site, default: []].insert(bundle.bundleID)
            check(report.rejected == 0, context("hub rejected rows of \(bundle.site)#\(bundle.sequence)"))
            counts["conflicts", default: 0] += report.conflicts
        } else {
            let expected: IngestReport.Status =
                hubApplied[bundle.site, default: []].contains(bundle.bundleID) ? .alreadyApplied : .superseded
            check(report.status == expected, context("hub, old bundle \(bundle.site)#\(bundle.sequence)"))
            check(report.applied + report.conflicts + report.rejected == 0, context("hub, old bundle"))
            counts[expected == .superseded ? "superseded" : "alreadyApplied", default: 0] += 1
        }
    }

    func deliverToSite(_ site: String, _ written: SyncWorld.WrittenReturn) throws {
        let report = try world.deliverToSite(site, written.paths)
        let last = siteLast[site, default: 0]
        if written.sequence > last {
            check(report.status == .applied, context("\(site), return #\(written.sequence)"))
            let missed: ClosedRange<UInt64>? = written.sequence > last + 1 ? (last + 1)...(written.sequence - 1) : nil
            check(report.missedSequences == missed, context("\(site), return #\(written.sequence)"))
            siteLast[site] = written.sequence
            siteApplied[site, default: []].insert(written.bundleID)
        } else {
            check(report.applied == 0, context("\(site), old return #\(written.sequence)"))
            let expected: SiteImport.Status =
                siteApplied[site, default: []].contains(written.bundleID) ? .alreadyApplied : .superseded
            check(report.status == expected, context("\(site), old return #\(written.sequence)"))
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
                    try sharedEdit(EditTarget(site: world.site(site).database), atHub: false)
                } else if table < 0.8 {
                    try pairsEdit(EditTarget(site: world.site(site).database), atHub: false)
                } else {
                    try tagsEdit(EditTarget(site: world.site(site).database), atHub: false)
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
            try sharedEdit(hubTarget, atHub: true)
        } else if roll < 0.75 {
            try pairsEdit(hubTarget, atHub: true)
        } else {
            try tagsEdit(hubTarget, atHub: true)
        }
    }

    /// `tags` (ids 0 … 3, values 0 … 2, no `hits`): concurrent edits are often identical, or identical in the
    /// columns they touch.
    func tagsEdit(_ db: EditTarget, atHub: Bool) throws {
        let live = atHub ? " AND NOT sync_deleted" : ""
        let id = Value.integer(Int64.random(in: 0..<4, using: &random))
        func small() -> Value { .integer(Int64.random(in: 0..<3, using: &random)) }
        if try db.scalar("SELECT 1 FROM tags WHERE id = ?\(live)", [id]) == nil {
            try db.insert("tags", ["id", "x", "y"], key: ["id"], [id, small(), small()], replacing: atHub)
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
    func sharedEdit(_ db: EditTarget, atHub: Bool) throws {
        let live = atHub ? " AND NOT sync_deleted" : ""
        let id = Int64.random(in: 0..<12, using: &random)
        let exists = try db.scalar("SELECT 1 FROM shared WHERE id = ?\(live)", [.integer(id)]) != nil
        let hits = Value.integer(nextHits())
        var key = id
        if !exists {
            // Over a hub tombstone, staff replace the dead row.
            try db.insert(
                "shared", ["id", "a", "b", "hits"], key: ["id"],
                [.integer(id), randomText(), .integer(Int64.random(in: -5...5, using: &random)), hits],
                replacing: atHub)
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
    func freeSharedKey(_ db: EditTarget, atHub: Bool) throws -> Int64? {
        let used = Set(try db.query("SELECT id FROM shared").compactMap { $0[0].integerValue })
        return (0..<12).filter { !used.contains($0) }.randomElement(using: &random)
    }

    /// The same for `pairs`, with a two-column key (k1 in n, s; k2 in 0 … 3); key changes move either part.
    func pairsEdit(_ db: EditTarget, atHub: Bool) throws {
        let live = atHub ? " AND NOT sync_deleted" : ""
        let k1 = Value.text(["n", "s"].randomElement(using: &random)!)
        let k2 = Value.integer(Int64.random(in: 0..<4, using: &random))
        let exists = try db.scalar("SELECT 1 FROM pairs WHERE k1 = ? AND k2 = ?\(live)", [k1, k2]) != nil
        let hits = Value.integer(nextHits())
        var key = [k1, k2]
        let v = Value.real(Double(Int.random(in: -1000...1000, using: &random)) / 8)
        if !exists {
            try db.insert("pairs", ["k1", "k2", "v", "hits"], key: ["k1", "k2"], [k1, k2, v, hits], replacing: atHub)
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
        print(
            "RandomizedExchangeTests seed \(seed), \(world.hubKind) hub: \(lastHits) writes, "
                + "\(counts.sorted { $0.key < $1.key })")
        try world.exchangeRounds(3)
        expectNoThrow(context("converged")) { try world.expectConverged() }
        expectNoThrow(context("identical")) { try world.expectIdentical() }
        for site in siteIDs {
            check(try world.pendingChanges(site) == 0, context("\(site) has pending changes"))
        }

        // Each site's own rows: exactly what it last wrote, at the site itself, at the hub and so everywhere.
        for site in siteIDs {
            let expected = owned[site]!.sorted { $0.key < $1.key }.map { [Value.integer($0.key)] + $0.value }
            let local = try world.site(site).database.query(
                "SELECT id, val, hits FROM owned WHERE owner = ? ORDER BY id", [.text(site)])
            let hub = try hubTarget.query(
                "SELECT id, val, hits FROM owned WHERE owner = ? AND NOT sync_deleted ORDER BY id", [.text(site)])
            check(SyncWorld.firstDifference(local, expected) == nil, context("\(site)'s own rows at \(site)"))
            check(SyncWorld.firstDifference(hub, expected) == nil, context("\(site)'s own rows at the hub"))
        }
        check(
            try hubTarget.scalar(
                world.hubKind == .sqlite
                    ? "SELECT count(*) FROM _fieldsync_conflicts WHERE tbl = 'owned'"
                    : "SELECT count(*) FROM sync_control.conflicts WHERE table_name = 'owned'")
                == .integer(0), context("conflicts on rows only their owner edits"))
        check(
            try hubTarget.scalar(
                world.hubKind == .sqlite
                    ? "SELECT count(*) FROM _fieldsync_rejected" : "SELECT count(*) FROM sync_control.rejected_rows")
                == .integer(0),
            context("rejected rows"))

        // Every live row of the shared tables is a row that some write produced, whole.
        for (table, columns) in [("shared", "id, a, b, hits"), ("pairs", "k1, k2, v, hits")] {
            for row in try hubTarget.query("SELECT \(columns) FROM \(table) WHERE NOT sync_deleted") {
                let stamp = row.last!.integerValue!
                let original = written[table]![stamp]
                check(
                    original.map { SyncWorld.firstDifference([row], [$0]) == nil } == true,
                    context("\(table) row with hits \(stamp) is not a row that was ever written"))
            }
        }

        // Quiet now: nothing more travels.
        let version = try world.hubVersion()
        for site in siteIDs {
            check(try world.exportSiteBundle(site).changes == 0, context("\(site) still exports changes"))
        }
        // Bundles still on the road arrive late, in any order: harmless.
        var late = toHub
        late.shuffle(using: &random)
        for bundle in late {
            let report = try world.deliverToHub(bundle.paths)
            check(report.status != .applied, context("late bundle \(bundle.site)#\(bundle.sequence) applied"))
        }
        var lateReturns = toSites
        lateReturns.shuffle(using: &random)
        for entry in lateReturns {
            let report = try world.deliverToSite(entry.site, entry.written.paths)
            check(report.status != .applied, context("late return \(entry.site)#\(entry.written.sequence) applied"))
        }
        try world.exchangeRounds(1)
        check(try world.hubVersion() == version, context("hub version moved while quiet"))
        expectNoThrow(context("identical after late arrivals")) { try world.expectIdentical() }
    }
}

/// A database the simulation edits: a site's (or the embedded hub's) SQLite connection with bound parameters, or
/// the PostgreSQL hub, where the parameters are written into the statement as literals.
struct EditTarget {
    var sqlite: SQLiteConnection?
    var postgres: (any HubSQL)?
    var atHub = false

    init(site: SQLiteConnection, atHub: Bool = false) {
        sqlite = site
        self.atHub = atHub
    }

    init(postgres: any HubSQL) {
        self.postgres = postgres
        atHub = true
    }

    func query(_ sql: String, _ arguments: [Value] = []) throws -> [[Value]] {
        if let sqlite { return try sqlite.query(sql, arguments) }
        return try postgres!.query(Self.inline(sql, arguments))
    }

    func run(_ sql: String, _ arguments: [Value] = []) throws {
        if let sqlite {
            _ = try sqlite.run(sql, arguments)
        } else {
            try postgres!.execute(Self.inline(sql, arguments))
        }
    }

    func scalar(_ sql: String, _ arguments: [Value] = []) throws -> Value? {
        try query(sql, arguments).first?.first
    }

    /// `INSERT`; with `replacing`, over a hub tombstone of the same key (`INSERT OR REPLACE` in SQLite, an upsert
    /// that revives the row in PostgreSQL).
    func insert(_ table: String, _ columns: [String], key: [String], _ values: [Value], replacing: Bool) throws {
        let marks = Array(repeating: "?", count: values.count).joined(separator: ", ")
        let list = columns.joined(separator: ", ")
        if !replacing {
            try run("INSERT INTO \(table) (\(list)) VALUES (\(marks))", values)
        } else if sqlite != nil {
            try run("INSERT OR REPLACE INTO \(table) (\(list)) VALUES (\(marks))", values)
        } else {
            let sets = (columns.map { "\($0) = excluded.\($0)" } + ["sync_deleted = false"]).joined(separator: ", ")
            try run(
                "INSERT INTO \(table) (\(list)) VALUES (\(marks)) ON CONFLICT (\(key.joined(separator: ", "))) "
                    + "DO UPDATE SET \(sets)", values)
        }
    }

    /// `sql` with each `?` replaced by the next argument as a PostgreSQL literal.
    static func inline(_ sql: String, _ arguments: [Value]) -> String {
        let pieces = sql.split(separator: "?", omittingEmptySubsequences: false)
        precondition(pieces.count == arguments.count + 1, "placeholders and arguments differ: \(sql)")
        var result = String(pieces[0])
        for (argument, piece) in zip(arguments, pieces.dropFirst()) {
            result += literal(argument) + piece
        }
        return result
    }

    static func literal(_ value: Value) -> String {
        switch value {
        case .null: "NULL"
        case .integer(let integer): "(\(integer))::bigint"
        case .real(let real): "'\(real)'::double precision"
        case .text(let text): "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        case .blob(let bytes): "'\\x" + bytes.map { String(format: "%02x", $0) }.joined() + "'::bytea"
        }
    }
}
