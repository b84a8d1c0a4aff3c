import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Every kind of SQLite value goes from one site through the hub to another site (and from HQ staff at the hub to
/// every site) and arrives bit for bit: same storage class, same bits, same bytes. From a site, a value no hub column
/// can store (text holding a NUL character; 'abc' in a NUMERIC column) is set aside at the hub and stays at the site.
@Suite struct ValueFidelityTests {
    static let schema = """
        CREATE TABLE kinds (
            id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, u, tz TIMESTAMPTZ)
        """

    static let integers: [Value] = [
        .integer(.min), .integer(.max), .integer(0), .integer(-1), .integer(1), .integer(1 << 53 + 1), .null,
    ]

    /// NaN is left out: SQLite stores NaN as NULL.
    static let reals: [Value] = [
        .real(-0.0), .real(0.0), .real(0.1), .real(-0.1), .real(0.1 + 0.2), .real(1.0 / 3.0), .real(.pi),
        .real(.leastNonzeroMagnitude), .real(-.leastNonzeroMagnitude), .real(.leastNormalMagnitude),
        .real(.leastNormalMagnitude.nextDown), .real(.greatestFiniteMagnitude), .real(-.greatestFiniteMagnitude),
        .real(.infinity), .real(-.infinity), .real(1e-300), .real(123_456_789.123_456_789),
        .real(9_007_199_254_740_994),
        .real(2.5), .real(-1e22), .null,
    ]

    static let texts: [Value] = [
        .text(""), .null, .text("tab\there"), .text("line\nbreak\r\nand carriage\rreturn"),
        .text("back\\slash \\N \\x00 \\\\"), .text("\\N"), .text("\\."), .text("i:1"), .text("t:x"),
        .text("unicode é 中文 🎉 \u{202E}rtl \u{FEFF}bom"), .text("e\u{301} decomposed"),
        .text("nul\u{0}inside"), .text("\u{0}"), .text("\u{0}\u{0}\u{1}\u{7F}\u{1B}[0m"),
        .text("2024-03-10T02:30:00.123456+05:45"), .text("1999-12-31 23:59:59-08:00"),
        .text("007"), .text("1e5"), .text(" 42 "), .text("1.50"), .text("-0"), .text("0x1F"), .text("NaN"),
        .text("Infinity"), .text("9223372036854775808"), .text(String(repeating: "long text ", count: 20_000)),
    ]

    static let blobs: [Value] = [
        .blob([]), .blob([0]), .blob([0, 0, 0]), .blob([0xFF, 0x00, 0x5C, 0x09, 0x0A, 0x0D, 0x4E]),
        .blob(Array(0...255)), .blob(Array("\\N".utf8)), .null, .blob(Array(repeating: 0, count: 100_000)),
    ]

    static let timestamps: [Value] = [
        .text("2024-03-10T02:30:00+05:45"), .text("2024-03-10T02:30:00.000001-12:00"),
        .text("2024-03-10 02:30:00 Europe/Paris"), .text("2024-03-10T02:30:00Z"), .null,
    ]

    /// One row per value, the value in its own typed column and again in the untyped column `u`.
    static var rows: [[Value]] {
        var rows: [[Value]] = []
        func add(_ column: Int, _ values: [Value]) {
            for value in values {
                var row = [Value](repeating: .null, count: 7)
                row[0] = .integer(Int64(rows.count + 1))
                row[column] = value
                row[5] = value
                rows.append(row)
            }
        }
        add(1, integers)
        add(2, reals)
        add(3, texts)
        add(4, blobs)
        add(6, timestamps)
        return rows
    }

    /// Whether a row holds text with a NUL character: no hub column can store one (PostgreSQL cannot), so both hub
    /// stores set such a row aside and the site keeps it.
    static func holdsNUL(_ row: [Value]) -> Bool {
        row.contains { if case .text(let text) = $0 { text.utf8.contains(0) } else { false } }
    }

    static func insert(_ rows: [[Value]], into connection: SQLiteConnection, table: String = "kinds") throws {
        try connection.withTransaction {
            for row in rows {
                try connection.run("INSERT INTO \(table) (id, i, r, t, b, u, tz) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            }
        }
    }

    static func allRows(_ connection: SQLiteConnection, where condition: String = "true") throws -> [[Value]] {
        try connection.query("SELECT id, i, r, t, b, u, tz FROM kinds WHERE \(condition) ORDER BY id")
    }

    @Test func everyValueKindTravelsFromASiteThroughTheHubToAnotherSite() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { try $0.execute(Self.schema) }
        let a = world.site("site-a").database
        try Self.insert(Self.rows, into: a)
        let written = try Self.allRows(a)
        // What SQLite itself kept at the origin is the reference (a REAL column may store -0.0 as 0).
        try #require(written.count == Self.rows.count)

        try world.exchangeRounds(2)

        // Rows with a NUL in a text value are set aside at the hub, with their reason; the site keeps them.
        let carried = written.filter { !Self.holdsNUL($0) }
        #expect(carried.count < written.count)
        let atHub = try world.hubRows("kinds")
        let atB = try Self.allRows(world.site("site-b").database)
        #expect(SyncWorld.firstDifference(atHub, carried) == nil, "hub")
        #expect(SyncWorld.firstDifference(atB, carried) == nil, "site-b")
        #expect(SyncWorld.firstDifference(try Self.allRows(a), written) == nil, "site-a changed by its own return")
        let rejected = try world.hubStore.rejectedRows(site: "site-a", table: "kinds", includeApplied: false)
        #expect(rejected.count == written.count - carried.count)
        #expect(rejected.allSatisfy { $0.reason.contains("NUL") })
    }

    @Test func everyValueKindTravelsFromHubStaffToEverySite() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { try $0.execute(Self.schema) }
        try Self.insert(Self.rows, into: world.hubDatabase)
        let written = try world.hubRows("kinds")
        try #require(written.count == Self.rows.count)

        try world.exchangeRounds(1)

        for site in world.sites {
            #expect(SyncWorld.firstDifference(try Self.allRows(site.database), written) == nil, "\(site.id)")
        }
        try world.expectIdentical()
    }

    /// Updates that change only the untyped column to a value of another storage class travel as updates with a
    /// partial column set.
    @Test func updatesBetweenStorageClassesTravel() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { try $0.execute(Self.schema) }
        let a = world.site("site-a").database
        let rows = Self.rows.filter { !Self.holdsNUL($0) }
        try Self.insert(rows, into: a)
        try world.exchangeRounds(1)
        // Each row's `u` takes the value of the row 7 places further on: another storage class most of the time.
        try a.withTransaction {
            for (index, row) in rows.enumerated() {
                try a.run("UPDATE kinds SET u = ? WHERE id = ?", [rows[(index + 7) % rows.count][5], row[0]])
            }
        }
        let written = try Self.allRows(a)

        try world.exchangeRounds(2)

        #expect(SyncWorld.firstDifference(try world.hubRows("kinds"), written) == nil, "hub")
        #expect(SyncWorld.firstDifference(try Self.allRows(world.site("site-b").database), written) == nil, "site-b")
        try world.expectIdentical()
    }

    /// Text keys with tabs, quotes, JSON-looking text and Unicode identify their rows exactly everywhere.
    @Test func awkwardTextKeysTravel() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) {
            try $0.execute("CREATE TABLE tagged (k TEXT PRIMARY KEY, v)")
        }
        let keys = [
            "", " ", "a\tb", "line\nbreak", "\"quoted\"", "'single'", "[1]", "{\"a\":1}", "back\\slash", "ü",
            "u\u{308}", "中文", "🎉", "\\N", "1", "01", "1.0",
        ]
        let a = world.site("site-a").database
        for (index, key) in keys.enumerated() {
            try a.run("INSERT INTO tagged VALUES (?, ?)", [.text(key), .integer(Int64(index))])
        }
        try world.exchangeRounds(2)
        let atB = try world.site("site-b").database.query("SELECT k, v FROM tagged ORDER BY k")
        #expect(SyncWorld.firstDifference(atB, try a.query("SELECT k, v FROM tagged ORDER BY k")) == nil)
        // Each key is updated and deleted again by key, at the other site.
        let b = world.site("site-b").database
        for key in keys { try b.run("UPDATE tagged SET v = v + 100 WHERE k = ?", [.text(key)]) }
        try world.exchangeRounds(2)
        #expect(try a.query("SELECT count(*) FROM tagged WHERE v >= 100") == [[.integer(Int64(keys.count))]])
        for key in keys { try a.run("DELETE FROM tagged WHERE k = ?", [.text(key)]) }
        try world.exchangeRounds(2)
        #expect(try b.query("SELECT count(*) FROM tagged") == [[.integer(0)]])
        try world.expectIdentical()
    }

    /// SQLite lets any column hold any storage class: `1.5` in an INTEGER column, text in a BLOB column. Such a
    /// record cannot travel in its column's type; it is left out and reported, stays pending, and the site's other
    /// changes travel. Once the value is fixed, the record travels too.
    @Test func aValueItsColumnTypeCannotCarryDoesNotBlockTheSitesOtherChanges() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { try $0.execute(Self.schema) }
        let a = world.site("site-a").database
        try a.execute("INSERT INTO kinds (id, i) VALUES (1, 42)")
        try a.execute("INSERT INTO kinds (id, i) VALUES (2, 1.5)")  // stays a real: INTEGER affinity cannot convert it
        try a.execute("INSERT INTO kinds (id, b) VALUES (3, 'text in a blob column')")
        #expect(try a.scalar("SELECT typeof(i) FROM kinds WHERE id = 2") == .text("real"))

        let export = try world.exportSiteBundle("site-a")
        #expect(export.changes == 1)
        #expect(export.problems.map(\.key).sorted() == ["[2]", "[3]"])
        try world.deliverToHub(export.bundle.paths)
        try world.exchangeRounds(1)
        #expect(try world.hubRows("kinds").map { $0[0] } == [.integer(1)])
        #expect(try world.pendingChanges("site-a") == 2)
        #expect(try world.site("site-a").engine.store.status().problems == 2)

        try a.execute("UPDATE kinds SET i = 2 WHERE id = 2; UPDATE kinds SET b = CAST(b AS BLOB) WHERE id = 3;")
        try world.exchangeRounds(2)
        #expect(try world.pendingChanges("site-a") == 0)
        #expect(try world.site("site-a").engine.store.status().problems == 0)
        try world.expectIdentical()
    }

    /// A key column without a declared type may hold any storage class. FieldSync refuses a declared BLOB key at
    /// install time, but an untyped key can still receive a blob; the capture trigger must not make the
    /// application's insert fail (`json_array` refuses blobs: "JSON cannot hold BLOB values").
    @Test func aBlobInAnUntypedKeyColumnDoesNotBreakTheApplication() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE loose (k PRIMARY KEY, v)")
        }
        let a = world.site("site-a").database
        try a.execute("INSERT INTO loose VALUES (1, 'integer key'), ('1', 'text key'), (1.5, 'real key')")
        #expect(throws: Never.self) { try a.execute("INSERT INTO loose VALUES (x'0001', 'blob key')") }
        // The row with a BLOB key cannot be tracked: it stays at the site and is listed as a problem.
        #expect(try world.site("site-a").engine.store.status().problems == 1)
        try world.exchangeRounds(2)
        #expect(try world.hubRows("loose").count == 3)
        #expect(try world.site("site-b").database.query("SELECT count(*) FROM loose") == [[.integer(3)]])
    }

    /// A column declared NUMERIC at the site (NUMERIC affinity: '1.50' is stored as the real 1.5) is carried as
    /// exact-decimal text; the other sites store the same numbers again.
    @Test func numericColumnsTravelBetweenSites() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, n NUMERIC)")
        }
        let a = world.site("site-a").database
        try Self.insertAmounts(a)
        let written = try a.query("SELECT id, n FROM amounts ORDER BY id")
        try world.exchangeRounds(2)
        let atB = try world.site("site-b").database.query("SELECT id, n FROM amounts ORDER BY id")
        #expect(SyncWorld.firstDifference(atB, Self.decimals(written)) == nil)
    }

    /// The rows whose value is a number: 'abc' in a NUMERIC column is set aside at the hub (PostgreSQL's numeric
    /// refuses it too) and stays at its site.
    static func decimals(_ rows: [[Value]]) -> [[Value]] {
        rows.filter { $0[1] != .text("abc") }
    }

    /// The hub keeps exact decimals as text (its copy of a NUMERIC column is `NUMERIC_TEXT`), so where a site holds
    /// the real 1.5 and the integer 3 the hub holds '1.5' and '3': the same numbers, each side in its own form.
    @Test func numericColumnsHoldTheSameNumbersAtTheHubAsAtTheSites() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, n NUMERIC)")
        }
        let a = world.site("site-a").database
        try Self.insertAmounts(a)
        let written = try a.query("SELECT id, n FROM amounts ORDER BY id")
        try world.exchangeRounds(2)
        let hub = try world.hubRows("amounts")
        #expect(hub.count == Self.decimals(written).count)
        #expect(
            try world.hubStore.rejectedRows(site: "site-a", table: "amounts", includeApplied: false).map(\.key)
                == ["[3]"])
        for (atHub, atSite) in zip(hub, Self.decimals(written)) {
            #expect(atHub[0] == atSite[0])
            #expect(Self.sameNumber(hub: atHub[1], site: atSite[1]), "id \(atSite[0]): \(atHub[1]) vs \(atSite[1])")
        }
        let atB = try world.site("site-b").database.query("SELECT id, n FROM amounts ORDER BY id")
        #expect(SyncWorld.firstDifference(atB, Self.decimals(written)) == nil)
    }

    /// Whether the hub's exact-decimal text names the site's number (or is the same text or NULL).
    static func sameNumber(hub: Value, site: Value) -> Bool {
        switch (hub, site) {
        case (.null, .null): true
        case (.text(let text), .integer(let number)): text == String(number)
        case (.text(let text), .real(let number)): Double(text).map { $0.bitPattern == number.bitPattern } ?? false
        case (.text(let a), .text(let b)): a == b
        default: false
        }
    }

    static func insertAmounts(_ db: SQLiteConnection) throws {
        try db.execute("INSERT INTO amounts VALUES (1, '1.50'), (2, 3), (3, 'abc'), (4, NULL), (5, '007')")
        let reals: [Double] = [0.1, 0.1 + 0.2, 1.0 / 3.0, 1e308, .leastNonzeroMagnitude, -2.5e-8, 123_456.789]
        for (index, real) in reals.enumerated() {
            try db.run("INSERT INTO amounts VALUES (?, ?)", [.integer(Int64(10 + index)), .real(real)])
        }
        try db.run("INSERT INTO amounts VALUES (20, ?), (21, ?)", [.integer(.max), .integer(.min)])
    }
}
