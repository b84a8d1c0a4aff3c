import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Concurrent edits under the default rule (the hub keeps its row, the conflict is recorded, the site gets the
/// hub's row back), and edits the hub judges identical to what it has.
@Suite struct ConflictTests {
    static func world() throws -> SyncWorld {
        try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
        }
    }

    static func people(_ db: SQLiteConnection) throws -> [[Value]] {
        try db.query("SELECT id, name, age FROM people ORDER BY id")
    }

    @Test func theHubKeepsItsRowRecordsTheConflictAndSendsItsRowBack() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try b.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
        try a.execute("UPDATE people SET age = 41 WHERE id = 'p1'")
        try world.deliverToHub(try world.exportSiteBundle("site-b").bundle.paths)
        let report = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        #expect(report.conflicts == 1)
        let conflicts = try world.hubDatabase.query(
            "SELECT site_id, tbl, pk, hub_origin, decision FROM _fieldsync_conflicts")
        #expect(
            conflicts == [[.text("site-a"), .text("people"), .text("[\"p1\"]"), .text("site-b"), .text("hub_kept")]])

        let imported = try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        #expect(imported.outcomes.map(\.kind) == [.conflictHubKept])
        #expect(try Self.people(a) == [[.text("p1"), .text("Amina"), .integer(40)]])
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    /// A site's edit of some columns that the hub finds "unchanged" (the hub's row already holds those values)
    /// must still leave the site with the hub's other columns, even when the site skipped the hub change that set
    /// them because its own edit was pending at the time.
    ///
    /// Sequence: site-a and the hub share p1 = (Amina, 31). site-a sets name = 'Amina B' (pending). HQ staff set
    /// name = 'Amina B', age = 32. A return reaches site-a before its bundle reaches the hub: the staff row is kept
    /// out (local edit pending), yet site-a's hub version moves past it. site-a's bundle reaches the hub: the only
    /// changed column matches, so the change is "unchanged"; unless the hub sends its row again, no later return
    /// carries the staff version and site-a keeps age 31 for good.
    @Test func anUnchangedPartialEditStillBringsTheSiteTheHubsOtherColumns() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)

        try a.execute("UPDATE people SET name = 'Amina B' WHERE id = 'p1'")
        try world.hubDatabase.execute("UPDATE people SET name = 'Amina B', age = 32 WHERE id = 'p1'")
        let early = try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        #expect(early.keptLocal == 1)
        let report = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        #expect(report.unchanged == 1)
        try world.exchangeRounds(3)

        #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina B"), .integer(32)]])
        #expect(try Self.people(a) == [[.text("p1"), .text("Amina B"), .integer(32)]])
        #expect(throws: Never.self) { try world.expectIdentical() }
    }

    /// The same with another site instead of HQ staff.
    @Test func anUnchangedPartialEditAfterAnotherSitesEditStillConverges() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)

        try a.execute("UPDATE people SET name = 'Amina B' WHERE id = 'p1'")
        try b.execute("UPDATE people SET name = 'Amina B', age = 32 WHERE id = 'p1'")
        try world.deliverToHub(try world.exportSiteBundle("site-b").bundle.paths)
        try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        try world.exchangeRounds(3)

        #expect(try Self.people(a) == [[.text("p1"), .text("Amina B"), .integer(32)]])
        #expect(throws: Never.self) { try world.expectIdentical() }
    }

    /// Text is compared by its bytes when the hub decides whether an edit changes anything: Swift's `==` on
    /// `String` treats canonically equivalent text as equal ("é" as one code point or as "e" + U+0301), SQLite
    /// and the site's capture trigger do not.
    @Test func aChangeToCanonicallyEquivalentTextTravels() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.run("INSERT INTO people VALUES ('p1', ?, 31)", [.text("Ren\u{E9}e")])  // precomposed é
        try world.exchangeRounds(1)

        try a.run("UPDATE people SET name = ? WHERE id = 'p1'", [.text("Rene\u{301}e")])  // e + combining acute
        #expect(try world.pendingChanges("site-a") == 1)
        let report = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        #expect(report.applied == 1)
        try world.exchangeRounds(2)

        let bytes = "SELECT hex(name) FROM people WHERE id = 'p1'"
        let expected = Value.text(Array("Rene\u{301}e".utf8).map { String(format: "%02X", $0) }.joined())
        #expect(try world.hubDatabase.scalar(bytes) == expected)
        #expect(try world.site("site-b").database.scalar(bytes) == expected)
        #expect(throws: Never.self) { try world.expectIdentical() }
    }

    /// Two sites inserting the same key with canonically equivalent but different text: not identical, so the
    /// second is a conflict and gets the hub's bytes back.
    @Test func canonicallyEquivalentInsertsAreNotIdentical() throws {
        let world = try Self.world()
        try world.site("site-a").database.run("INSERT INTO people VALUES ('p1', ?, 31)", [.text("Ren\u{E9}e")])
        try world.site("site-b").database.run("INSERT INTO people VALUES ('p1', ?, 31)", [.text("Rene\u{301}e")])
        try world.exchangeRounds(2)
        #expect(throws: Never.self) { try world.expectIdentical() }
    }

    @Test func aDeleteAgainstAnEditIsAConflictAndTheRowComesBack() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.hubDatabase.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try world.exchangeRounds(1)
        #expect(try Self.people(a) == [[.text("p1"), .text("Amina"), .integer(32)]])
        try world.expectIdentical()
    }

    @Test func anEditAgainstADeleteIsAConflictAndTheRowGoes() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.hubDatabase.execute("DELETE FROM people WHERE id = 'p1'")
        try a.execute("UPDATE people SET age = 33 WHERE id = 'p1'")
        try world.exchangeRounds(1)
        #expect(try Self.people(a).isEmpty)
        #expect(try world.hubDatabase.scalar("SELECT count(*) FROM _fieldsync_conflicts") == .integer(1))
        try world.expectIdentical()
    }

    /// A site keeps its unacknowledged edit when a hub change to the same record arrives, also when the key column
    /// is declared NUMERIC: the site stores the key 3 as an integer (NUMERIC affinity), the return bundle carries
    /// it as the text '3' (a numeric column travels as text), and the record must still be recognised as the one
    /// with the pending edit.
    @Test func aPendingEditIsKeptAgainstAHubChangeWhenTheKeyIsNumeric() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE codes (code NUMERIC PRIMARY KEY, label TEXT)")
        }
        let a = world.site("site-a").database
        try a.execute("INSERT INTO codes VALUES (3, 'three'), ('1.5', 'one and a half')")
        try world.exchangeRounds(1)

        try a.execute("UPDATE codes SET label = 'site edit'")
        try world.hubDatabase.execute("UPDATE codes SET label = 'HQ edit'")
        let imported = try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        #expect(imported.keptLocal == 2)
        #expect(imported.applied == 0)
        // One bookkeeping record per row: the hub's keys were recognised as the site's own.
        #expect(try a.query("SELECT count(*) FROM _fieldsync_rows WHERE tbl = 'codes'") == [[.integer(2)]])
        #expect(try a.query("SELECT label FROM codes") == [[.text("site edit")], [.text("site edit")]])
        // The edit reaches the hub and is judged there: a conflict, recorded with the site's version.
        let report = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        #expect(report.conflicts == 2)
        try world.exchangeRounds(2)
        #expect(try a.query("SELECT label FROM codes") == [[.text("HQ edit")], [.text("HQ edit")]])
    }
}
