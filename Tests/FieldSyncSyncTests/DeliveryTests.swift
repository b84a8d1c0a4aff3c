import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Duplicated, replayed, older, reordered and lost bundles, both ways: harmless, and reported for what they are.
@Suite struct DeliveryTests {
    static func world() throws -> SyncWorld {
        try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
        }
    }

    static func people(_ db: SQLiteConnection) throws -> [[Value]] {
        try db.query("SELECT id, name, age FROM people ORDER BY id")
    }

    // MARK: Site to hub

    @Test func aDuplicatedSiteBundleIsAppliedOnce() throws {
        let world = try Self.world()
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        let bundle = try world.exportSiteBundle("site-a").bundle
        let first = try world.deliverToHub(bundle.paths)
        let version = try world.hubVersion()
        let again = try world.deliverToHub(bundle.paths)

        #expect(first.status == .applied)
        #expect(first.applied == 1)
        #expect(again.status == .alreadyApplied)
        #expect(again.bundleID == bundle.header.bundleID)
        #expect(again.applied == 0)
        #expect(try world.hubVersion() == version)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    @Test func anOlderSiteBundleAfterANewerOneIsSupersededAndChangesNothing() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        let older = try world.exportSiteBundle("site-a").bundle
        try a.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
        try a.execute("INSERT INTO people VALUES ('p2', 'Bo', 40)")
        let newer = try world.exportSiteBundle("site-a").bundle

        let first = try world.deliverToHub(newer.paths)
        #expect(first.status == .applied)
        #expect(first.missedSequences == 1...1)
        #expect(first.applied == 2)
        let late = try world.deliverToHub(older.paths)
        #expect(late.status == .superseded)
        #expect(late.applied == 0)
        // The older bundle's age 31 did not come back.
        #expect(
            try world.hubRows("people") == [
                [.text("p1"), .text("Amina"), .integer(32)], [.text("p2"), .text("Bo"), .integer(40)],
            ])
        // Replaying either later still changes nothing, and the applied one is recognised.
        #expect(try world.deliverToHub(newer.paths).status == .alreadyApplied)
        #expect(try world.deliverToHub(older.paths).status == .superseded)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    @Test func aReplayedSiteBundleAfterLaterOnesChangesNothing() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        let first = try world.exportSiteBundle("site-a").bundle
        try world.deliverToHub(first.paths)
        try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        try a.execute("DELETE FROM people WHERE id = 'p1'")
        try world.exchangeRounds(1)
        try world.hubDatabase.execute("INSERT OR REPLACE INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        try world.exchangeRounds(1)

        let replay = try world.deliverToHub(first.paths)
        #expect(replay.status == .alreadyApplied)
        #expect(try world.hubRows("people") == [[.text("p1"), .text("HQ"), .integer(50)]])
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    @Test func aLostSiteBundleLosesNothing() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31), ('p2', 'Bo', 40)")
        _ = try world.exportSiteBundle("site-a")  // lost on the way
        try a.execute("INSERT INTO people VALUES ('p3', 'Chen', 25)")
        try a.execute("DELETE FROM people WHERE id = 'p2'")
        _ = try world.exportSiteBundle("site-a")  // lost too
        let third = try world.exportSiteBundle("site-a")
        #expect(third.changes == 3)

        let report = try world.deliverToHub(third.bundle.paths)
        #expect(report.status == .applied)
        #expect(report.missedSequences == 1...2)
        try world.exchangeRounds(1)
        #expect(
            try Self.people(world.site("site-b").database) == [
                [.text("p1"), .text("Amina"), .integer(31)], [.text("p3"), .text("Chen"), .integer(25)],
            ])
        try world.expectIdentical()
    }

    @Test func siteBundlesKeepCarryingChangesUntilTheHubAcknowledgesThem() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        let first = try world.exportSiteBundle("site-a")
        try world.deliverToHub(first.bundle.paths)
        // The acknowledgement is lost: the next bundle carries p1 again, and the hub skips it.
        _ = try world.exportReturnBundle("site-a")
        try a.execute("INSERT INTO people VALUES ('p2', 'Bo', 40)")
        let second = try world.exportSiteBundle("site-a")
        #expect(second.changes == 2)
        let report = try world.deliverToHub(second.bundle.paths)
        #expect(report.alreadyApplied == 1)
        #expect(report.applied == 1)
        // Once acknowledged, nothing is carried any more.
        try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)
        #expect(try world.exportSiteBundle("site-a").changes == 0)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    // MARK: Hub to site

    @Test func aDuplicatedReturnBundleIsAppliedOnce() throws {
        let world = try Self.world()
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        let written = try world.exportReturnBundle("site-a")
        let first = try world.deliverToSite("site-a", written.paths)
        let again = try world.deliverToSite("site-a", written.paths)
        #expect(first.status == .applied)
        #expect(first.applied == 1)
        #expect(again.status == .alreadyApplied)
        #expect(again.applied == 0)
        #expect(try world.pendingChanges("site-a") == 0)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    @Test func anOlderReturnBundleAfterANewerOneIsSupersededAndRollsNothingBack() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        let older = try world.exportReturnBundle("site-a")
        try world.hubDatabase.execute("UPDATE people SET age = 51 WHERE id = 'p1'")
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p2', 'HQ two', 60)")
        let newer = try world.exportReturnBundle("site-a")

        let first = try world.deliverToSite("site-a", newer.paths)
        #expect(first.status == .applied)
        #expect(first.missedSequences == 1...1)
        let late = try world.deliverToSite("site-a", older.paths)
        #expect(late.status == .superseded)
        #expect(late.applied == 0)
        #expect(
            try Self.people(a) == [
                [.text("p1"), .text("HQ"), .integer(51)], [.text("p2"), .text("HQ two"), .integer(60)],
            ])
        #expect(try world.pendingChanges("site-a") == 0)
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    @Test func aLostReturnBundleLosesNothing() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        try world.site("site-b").database.execute("INSERT INTO people VALUES ('p2', 'Bo', 40)")
        try world.deliverToHub(try world.exportSiteBundle("site-b").bundle.paths)
        _ = try world.exportReturnBundle("site-a")  // lost
        try world.hubDatabase.execute("DELETE FROM people WHERE id = 'p1'")
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p3', 'HQ three', 70)")
        _ = try world.exportReturnBundle("site-a")  // lost too

        let third = try world.exportReturnBundle("site-a")
        let report = try world.deliverToSite("site-a", third.paths)
        #expect(report.status == .applied)
        #expect(report.missedSequences == 1...2)
        #expect(
            try Self.people(a) == [
                [.text("p2"), .text("Bo"), .integer(40)], [.text("p3"), .text("HQ three"), .integer(70)],
            ])
        try world.exchangeRounds(1)
        try world.expectIdentical()
    }

    /// A return bundle keeps carrying the site's outcomes until the site acknowledges it, so a lost return with a
    /// conflict outcome still brings the site back in step.
    @Test func aLostReturnWithAConflictOutcomeLosesNothing() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        try world.hubDatabase.execute("UPDATE people SET name = 'HQ name' WHERE id = 'p1'")
        try a.execute("UPDATE people SET name = 'site name' WHERE id = 'p1'")
        let report = try world.deliverToHub(try world.exportSiteBundle("site-a").bundle.paths)
        #expect(report.conflicts == 1)

        let lost = try world.exportReturnBundle("site-a")
        #expect(lost.plan.outcomes.count == 1)
        let next = try world.exportReturnBundle("site-a")
        #expect(next.plan.outcomes.map(\.kind) == [.conflictHubKept])
        let imported = try world.deliverToSite("site-a", next.paths)
        #expect(imported.outcomes.count == 1)
        #expect(try Self.people(a) == [[.text("p1"), .text("HQ name"), .integer(31)]])
        // The outcome reaches the site once; the hub stops sending it once the site acknowledges the return.
        try world.exchangeRounds(1)
        #expect(try world.exportReturnBundle("site-a").plan.outcomes.isEmpty)
        #expect(try world.site("site-a").engine.store.status().outcomes == 1)
        try world.expectIdentical()
    }

    /// The documentation of ``SiteImport/Status/alreadyApplied`` says "this very bundle was applied before"; the
    /// hub reports a replay of any applied bundle that way, not only the last one.
    @Test func aReplayedReturnBundleThatWasAppliedBeforeIsReportedAsAlreadyApplied() throws {
        let world = try Self.world()
        try world.hubDatabase.execute("INSERT INTO people (id, name, age) VALUES ('p1', 'HQ', 50)")
        let first = try world.exportReturnBundle("site-a")
        try world.deliverToSite("site-a", first.paths)
        try world.hubDatabase.execute("UPDATE people SET age = 51 WHERE id = 'p1'")
        try world.deliverToSite("site-a", try world.exportReturnBundle("site-a").paths)

        let replay = try world.deliverToSite("site-a", first.paths)
        #expect(replay.applied == 0)
        #expect(replay.status == .alreadyApplied)
        #expect(try Self.people(world.site("site-a").database) == [[.text("p1"), .text("HQ"), .integer(51)]])
    }

    // MARK: Both ways, interleaved

    @Test func bundlesCrossingInTransitAreHarmless() throws {
        let world = try Self.world()
        let a = world.site("site-a").database
        let b = world.site("site-b").database
        try a.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try b.execute("INSERT INTO people VALUES ('p2', 'Bo', 40)")
        // Every site exports twice and the hub writes two returns for each before anything arrives; then
        // everything arrives in reverse order, twice.
        var toHub: [[String]] = []
        var toSites: [(String, [String])] = []
        for _ in 0..<2 {
            for site in world.sites { toHub.append(try world.exportSiteBundle(site.id).bundle.paths) }
            try a.execute("UPDATE people SET age = age + 1 WHERE id = 'p1'")
        }
        for paths in (toHub + toHub).reversed() { try world.deliverToHub(paths) }
        for _ in 0..<2 {
            for site in world.sites { toSites.append((site.id, try world.exportReturnBundle(site.id).paths)) }
        }
        for (site, paths) in (toSites + toSites).reversed() { try world.deliverToSite(site, paths) }
        try world.exchangeRounds(2)
        #expect(
            try Self.people(b) == [
                [.text("p1"), .text("Amina"), .integer(33)], [.text("p2"), .text("Bo"), .integer(40)],
            ])
        for site in world.sites { #expect(try world.pendingChanges(site.id) == 0) }
        try world.expectIdentical()
    }
}
