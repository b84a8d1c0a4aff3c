import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Deletes, rows present before tracking, no-op updates, composite keys and key changes travel; nothing echoes.
@Suite struct ChangeTravelTests {
    static func people(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
    }

    static func names(_ db: SQLiteConnection) throws -> [[Value]] {
        try db.query("SELECT id, name, age FROM people ORDER BY id")
    }

    // MARK: Deletes

    @Test func aSiteDeleteBecomesATombstoneAtTheHubAndRemovesTheRowElsewhere() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b", "site-c"], schema: Self.people)
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31), ('p2', 'Bo', 40)")
        try world.exchangeRounds(1)
        #expect(try Self.names(world.site("site-c").database).count == 2)

        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try world.exchangeRounds(1)

        let hub = try world.hubRowsWithBookkeeping("people")
        // id, name, age, sync_version, sync_deleted, sync_origin_client
        #expect(
            hub.map { [$0[0], $0[4], $0[5]] } == [
                [.text("p1"), .integer(1), .text("site-a")], [.text("p2"), .integer(0), .text("site-a")],
            ])
        for site in world.sites {
            #expect(try Self.names(site.database) == [[.text("p2"), .text("Bo"), .integer(40)]], "\(site.id)")
        }
        try world.expectIdentical()
    }

    @Test func aDeleteTypedByStaffAtTheHubTravelsToEverySite() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31), ('p2', 'Bo', 40)")
        try world.exchangeRounds(1)
        let before = try world.hubVersion()

        try world.hubDatabase.execute("DELETE FROM people WHERE id = 'p1'")

        // The hub keeps a tombstone with a new version made at the hub (no origin site).
        let tombstone = try world.hubRowsWithBookkeeping("people").first { $0[0] == .text("p1") }
        #expect(tombstone?[4] == .integer(1))
        #expect(tombstone?[5] == .null)
        #expect((tombstone?[3].integerValue ?? 0) > before)
        try world.exchangeRounds(1)
        for site in world.sites {
            #expect(try Self.names(site.database) == [[.text("p2"), .text("Bo"), .integer(40)]], "\(site.id)")
        }
        try world.expectIdentical()
    }

    @Test func aRowDeletedAndInsertedAgainComesBack() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try world.exchangeRounds(1)
        #expect(try Self.names(b).isEmpty)

        // Re-inserted at the other site: the hub's tombstone comes alive again.
        try b.execute("INSERT INTO people VALUES ('p1', 'Amina again', 32)")
        try world.exchangeRounds(1)
        #expect(try Self.names(a) == [[.text("p1"), .text("Amina again"), .integer(32)]])
        // Deleted and re-inserted between two exports: travels as the row it is now.
        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina third', 33)")
        try world.exchangeRounds(1)
        #expect(try Self.names(b) == [[.text("p1"), .text("Amina third"), .integer(33)]])
        // Re-inserted by staff at the hub over a tombstone.
        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try world.exchangeRounds(1)
        try world.hubDatabase.execute("INSERT OR REPLACE INTO people (id, name, age) VALUES ('p1', 'Amina HQ', 34)")
        try world.exchangeRounds(1)
        for site in world.sites {
            #expect(try Self.names(site.database) == [[.text("p1"), .text("Amina HQ"), .integer(34)]], "\(site.id)")
        }
        try world.expectIdentical()
    }

    @Test func aRowInsertedAndDeletedBeforeAnyExportLeavesNoTrace() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('ghost', 'Nobody', 1)")
        try a.execute("DELETE FROM people WHERE id = 'ghost'")
        let export = try world.exportSiteBundle("site-a")
        // The record travels as a tombstone, which the hub, never having had the row, takes as unchanged.
        let report = try world.deliverToHub(export.bundle.paths)
        #expect(report.applied == 0)
        #expect(try world.hubRowsWithBookkeeping("people").isEmpty)
        try world.exchangeRounds(1)
        #expect(try Self.names(world.site("site-b").database).isEmpty)
        try world.expectIdentical()
    }

    // MARK: Tracking

    @Test func rowsPresentWhenTrackingStartsTravel() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b", "site-c"]) { db in
            try Self.people(db)
            // Each site's database already holds its own rows, and one row all of them hold alike.
            let site = (db.path as NSString).lastPathComponent.replacingOccurrences(of: ".sqlite", with: "")
            try db.run(
                "INSERT INTO people VALUES (?, ?, ?)", [.text("\(site)-1"), .text("first of \(site)"), .integer(1)])
            try db.run("INSERT INTO people VALUES (?, ?, ?)", [.text("\(site)-2"), .null, .null])
            try db.execute("INSERT INTO people VALUES ('common', 'everyone has it', 7)")
        }
        #expect(try world.pendingChanges("site-a") == 3)
        try world.exchangeRounds(2)
        let expected: [[Value]] = [
            [.text("common"), .text("everyone has it"), .integer(7)],
            [.text("site-a-1"), .text("first of site-a"), .integer(1)], [.text("site-a-2"), .null, .null],
            [.text("site-b-1"), .text("first of site-b"), .integer(1)], [.text("site-b-2"), .null, .null],
            [.text("site-c-1"), .text("first of site-c"), .integer(1)], [.text("site-c-2"), .null, .null],
        ]
        for site in world.sites { #expect(try Self.names(site.database) == expected, "\(site.id)") }
        #expect(try world.hubRows("people") == expected)
        // The identical pre-existing row is no conflict.
        #expect(try world.hubDatabase.scalar("SELECT count(*) FROM _fieldsync_conflicts") == .integer(0))
        try world.expectIdentical()
    }

    // MARK: No echo

    @Test func aRoundTripLeavesNothingPendingAndTheNextRoundCarriesNothing() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b", "site-c"], schema: Self.people)
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.site("site-b").database.execute("INSERT INTO people VALUES ('p2', 'Bo', 40)")
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p3', 'HQ', 50)")
        try world.exchangeRounds(1)
        // Rows that arrived from the hub were not captured again.
        for site in world.sites { #expect(try world.pendingChanges(site.id) == 0, "\(site.id)") }
        let version = try world.hubVersion()

        for site in world.sites {
            let export = try world.exportSiteBundle(site.id)
            #expect(export.changes == 0, "\(site.id)")
            let report = try world.deliverToHub(export.bundle.paths)
            #expect(report.status == .applied)
            #expect(report.applied + report.unchanged + report.conflicts + report.rejected == 0, "\(site.id)")
        }
        for site in world.sites {
            let written = try world.exportReturnBundle(site.id)
            #expect(written.rows == 0, "\(site.id)")
            #expect(written.plan.outcomes.isEmpty)
            let imported = try world.deliverToSite(site.id, written.paths)
            #expect(imported.applied == 0 && imported.keptLocal == 0, "\(site.id)")
        }
        // The hub did not receive its own change back, nor anyone's twice: no new version.
        #expect(try world.hubVersion() == version)
        try world.expectIdentical()
    }

    @Test func aSitesOwnChangesDoNotComeBackToIt() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        _ = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        let toA = try world.exportReturnBundle("site-a")
        let toB = try world.exportReturnBundle("site-b")
        #expect(toA.rows == 0)
        #expect(toB.rows == 1)
        _ = try world.deliverToSite("site-a", toA.paths)
        _ = try world.deliverToSite("site-b", toB.paths)
        #expect(try world.pendingChanges("site-a") == 0)
        #expect(try world.pendingChanges("site-b") == 0)
        try world.expectIdentical()
    }

    // MARK: Updates that change nothing

    @Test func anUpdateThatChangesNothingIsNotAChange() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT, weight REAL, note)")
        }
        let a = world.site("site-a").database
        try a.execute("INSERT INTO things VALUES (1, 'box', 1.0, NULL), (2, '', 2.5, x'00')")
        try world.exchangeRounds(1)
        let version = try world.hubVersion()
        let status = try world.site("site-a").engine.store.status()

        try a.execute("UPDATE things SET name = name, weight = weight, note = note")
        try a.execute("UPDATE things SET weight = 1 WHERE id = 1")  // REAL affinity: 1 is stored as 1.0
        try a.execute("UPDATE things SET note = NULL WHERE id = 1")
        try a.execute("UPDATE things SET note = x'00', name = '' WHERE id = 2")

        #expect(try world.site("site-a").engine.store.status().changeCounter == status.changeCounter)
        #expect(try world.pendingChanges("site-a") == 0)
        #expect(try world.exportSiteBundle("site-a").changes == 0)

        // The same at the hub: a staff update that writes the same values stamps no version.
        try world.hubDatabase.execute("UPDATE things SET name = name, weight = weight, note = note")
        try world.hubDatabase.execute("UPDATE things SET weight = 2.5 WHERE id = 2")
        #expect(try world.hubVersion() == version)
        try world.exchangeRounds(1)
        #expect(try world.exportReturnBundle("site-b").rows == 0)
        try world.expectIdentical()
    }

    @Test func anEditThatMatchesTheHubAlreadyIsUnchangedNotAConflict() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        // Both sites make the same edit without having seen each other's.
        try world.site("site-a").database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        try world.site("site-b").database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        let first = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        let second = try world.deliverToHub(try world.exportSiteBundle("site-b").bundle.paths)
        #expect(first.applied == 1)
        #expect(second.unchanged == 1)
        #expect(second.conflicts == 0)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    /// A column with `COLLATE NOCASE` (or RTRIM) calls 'amina' and 'Amina' equal, but they are different values:
    /// fixing the capitals of a name is a change. (`OLD.x IS NOT NEW.x` in a trigger compares with the column's
    /// collation unless told `COLLATE BINARY`.)
    @Test func aChangeOnlyTheColumnsCollationIgnoresTravels() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute(
                "CREATE TABLE guests (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, code TEXT COLLATE RTRIM)")
        }
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO guests VALUES (1, 'amina', 'x'), (2, 'bo', 'y')")
        try world.exchangeRounds(1)

        try a.execute("UPDATE guests SET name = 'Amina', code = 'x  ' WHERE id = 1")
        #expect(try world.pendingChanges("site-a") == 1)
        try world.exchangeRounds(1)

        #expect(try b.query("SELECT name, code FROM guests WHERE id = 1") == [[.text("Amina"), .text("x  ")]])
        #expect(throws: Never.self) { try world.expectIdentical() }
    }

    /// The same at a hub that adopted an existing table with a NOCASE column: a staff edit that only changes
    /// capitals must get a new version, or no site ever hears of it.
    @Test func aCaseOnlyEditByStaffInANocaseColumnGetsAVersion() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hub.sqlite")
        let staff = try SQLiteConnection(path: path)
        try staff.execute("CREATE TABLE guests (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)")
        try staff.execute("INSERT INTO guests VALUES (1, 'amina')")
        let store = try SQLiteHubStore.create(path: path, hubID: "hub")
        try store.addTable(name: "guests", schema: nil)
        let before = try staff.scalar("SELECT sync_version FROM guests WHERE id = 1")

        try staff.execute("UPDATE guests SET name = 'Amina' WHERE id = 1")

        #expect(try staff.scalar("SELECT name FROM guests") == .text("Amina"))
        #expect(try staff.scalar("SELECT sync_version FROM guests WHERE id = 1") != before)
    }

    // MARK: Keys

    static func visits(_ db: SQLiteConnection) throws {
        try db.execute(
            "CREATE TABLE visits (region TEXT NOT NULL, n INTEGER NOT NULL, note TEXT, PRIMARY KEY (region, n))")
    }

    static func allVisits(_ db: SQLiteConnection) throws -> [[Value]] {
        try db.query("SELECT region, n, note FROM visits ORDER BY region, n")
    }

    @Test func compositeKeysIdentifyRows() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.visits)
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        // Same region with different numbers, same number in different regions.
        try a.execute(
            """
            INSERT INTO visits VALUES ('north', 1, 'n1'), ('north', 2, 'n2'), ('south', 1, 's1'), ('1', 1, 'text one');
            """)
        try b.execute("INSERT INTO visits VALUES ('south', 2, 's2')")
        try world.exchangeRounds(1)
        try b.execute("UPDATE visits SET note = 'n1 seen' WHERE region = 'north' AND n = 1")
        try a.execute("DELETE FROM visits WHERE region = 'south' AND n = 1")
        try world.hubDatabase.execute("UPDATE visits SET note = 'HQ' WHERE region = 'north' AND n = 2")
        try world.exchangeRounds(2)
        let expected: [[Value]] = [
            [.text("1"), .integer(1), .text("text one")], [.text("north"), .integer(1), .text("n1 seen")],
            [.text("north"), .integer(2), .text("HQ")], [.text("south"), .integer(2), .text("s2")],
        ]
        #expect(try Self.allVisits(a) == expected)
        #expect(try Self.allVisits(b) == expected)
        try world.expectIdentical()
    }

    @Test func aKeyChangeAtASiteTravelsAsTombstoneAndNewRow() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.people)
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31), ('p2', 'Bo', 40)")
        try world.exchangeRounds(1)

        try a.execute("UPDATE people SET id = 'p9' WHERE id = 'p1'")
        try world.exchangeRounds(1)

        let hub = try world.hubRowsWithBookkeeping("people").map { [$0[0], $0[1], $0[4]] }
        #expect(
            hub == [
                [.text("p1"), .text("Amina"), .integer(1)], [.text("p2"), .text("Bo"), .integer(0)],
                [.text("p9"), .text("Amina"), .integer(0)],
            ])
        #expect(
            try Self.names(b) == [
                [.text("p2"), .text("Bo"), .integer(40)], [.text("p9"), .text("Amina"), .integer(31)],
            ])
        // And back again, together with a value change, from the other site.
        try b.execute("UPDATE people SET id = 'p1', age = 32 WHERE id = 'p9'")
        try world.exchangeRounds(1)
        #expect(
            try Self.names(a) == [
                [.text("p1"), .text("Amina"), .integer(32)], [.text("p2"), .text("Bo"), .integer(40)],
            ])
        try world.expectIdentical()
    }

    @Test func aCompositeKeyChangeTravels() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.visits)
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO visits VALUES ('north', 1, 'n1'), ('north', 2, 'n2')")
        try world.exchangeRounds(1)
        // One part of the key changes; then a key moves onto a key that was freed in the same export.
        try a.execute("UPDATE visits SET region = 'south' WHERE region = 'north' AND n = 1")
        try a.execute("UPDATE visits SET n = 1 WHERE region = 'north' AND n = 2")
        try world.exchangeRounds(1)
        let expected: [[Value]] = [
            [.text("north"), .integer(1), .text("n2")], [.text("south"), .integer(1), .text("n1")],
        ]
        #expect(try Self.allVisits(b) == expected)
        #expect(try world.hubRows("visits") == expected)
        try world.expectIdentical()
    }

    @Test func aKeyChangeByStaffAtTheHubTravels() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"], schema: Self.visits)
        try world.site("site-a").database.execute("INSERT INTO visits VALUES ('north', 1, 'n1'), ('north', 2, 'n2')")
        try world.exchangeRounds(1)

        try world.hubDatabase.execute(
            "UPDATE visits SET region = 'east', note = 'moved' WHERE region = 'north' AND n = 1")
        let hub = try world.hubRowsWithBookkeeping("visits").map { [$0[0], $0[1], $0[4]] }
        #expect(
            hub == [
                [.text("east"), .integer(1), .integer(0)], [.text("north"), .integer(1), .integer(1)],
                [.text("north"), .integer(2), .integer(0)],
            ])
        try world.exchangeRounds(1)
        let expected: [[Value]] = [
            [.text("east"), .integer(1), .text("moved")], [.text("north"), .integer(2), .text("n2")],
        ]
        for site in world.sites { #expect(try Self.allVisits(site.database) == expected, "\(site.id)") }
        try world.expectIdentical()
    }

    // MARK: Parents and children

    /// `bookings` sorts before `rooms`, the table it references: order in a bundle must not matter.
    @Test func parentsAndChildrenTravelTogether() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute(
                """
                CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                CREATE TABLE bookings (
                    id INTEGER PRIMARY KEY, room INTEGER NOT NULL REFERENCES rooms (id), guest TEXT);
                """)
        }
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO rooms VALUES (1, 'one'); INSERT INTO bookings VALUES (10, 1, 'Amina');")
        try world.exchangeRounds(1)
        #expect(try b.query("SELECT id, room, guest FROM bookings") == [[.integer(10), .integer(1), .text("Amina")]])

        // Staff add a room and a booking in it, and move the old booking there.
        try world.hubDatabase.execute(
            """
            INSERT INTO bookings (id, room, guest) VALUES (11, 2, 'Bo');
            INSERT INTO rooms (id, name) VALUES (2, 'two');
            UPDATE bookings SET room = 2 WHERE id = 10;
            """)
        try world.exchangeRounds(1)
        #expect(
            try a.query("SELECT id, room FROM bookings ORDER BY id") == [
                [.integer(10), .integer(2)], [.integer(11), .integer(2)],
            ])
        // A site removes bookings and then their room.
        try b.execute("DELETE FROM bookings; DELETE FROM rooms WHERE id = 2;")
        try world.exchangeRounds(1)
        #expect(try a.query("SELECT id FROM rooms") == [[.integer(1)]])
        #expect(try a.query("SELECT count(*) FROM bookings") == [[.integer(0)]])
        #expect(try a.query("PRAGMA foreign_key_check").isEmpty)
        try world.expectIdentical()
    }
}
