import FieldSyncCore
import FieldSyncPostgres
import FieldSyncSQLite
import FieldSyncTesting
import Testing

/// Sync scenarios that must behave the same whichever store the hub runs on. Each runs against the embedded
/// SQLite store and against PostgreSQL (skipped, with a message, when no PostgreSQL server is configured).
enum Scenario: String, CaseIterable, CustomStringConvertible, Sendable {
    case rowsTravelBetweenSites
    case staffEditsReachEverySite
    case firstEditWinsAndTheOtherConflicts
    case identicalEditsAreNotConflicts
    case deletesTravelAsTombstones
    case duplicatedAndReorderedBundlesChangeNothing
    case valuesKeepTheirExactForm

    var description: String { rawValue }

    static func people(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
    }

    func run(on kind: HubStoreKind) throws {
        switch self {
        case .rowsTravelBetweenSites:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            try world.site("site-b").database.execute("INSERT INTO people VALUES ('p2', 'Baraka', 40)")
            try world.exchangeRounds(2)
            #expect(try world.hubRows("people").count == 2)
            try world.expectIdentical()

        case .staffEditsReachEverySite:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            try world.exchangeRounds(1)
            try world.hubSQL.execute("INSERT INTO people (id, name, age) VALUES ('h1', 'HQ', 50)")
            try world.hubSQL.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
            let version = try world.hubVersion()
            try world.hubSQL.execute("UPDATE people SET name = name, age = age")
            #expect(try world.hubVersion() == version, "an update that changes nothing is not a new version")
            try world.exchangeRounds(1)
            try world.expectIdentical()
            #expect(try world.siteRows("site-b", "people").count == 2)
            try world.hubSQL.execute("DELETE FROM people WHERE id = 'h1'")
            try world.exchangeRounds(1)
            try world.expectIdentical()
            #expect(try world.siteRows("site-a", "people") == [[.text("p1"), .text("Amina"), .integer(32)]])
            #expect(try world.hubSQL.scalar("SELECT count(*) FROM people") == .integer(2), "the tombstone stays")

        case .firstEditWinsAndTheOtherConflicts:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            try world.exchangeRounds(1)
            try world.site("site-a").database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
            try world.site("site-b").database.execute("UPDATE people SET age = 33 WHERE id = 'p1'")
            try world.exchangeRounds(2)
            try world.expectIdentical()
            #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina"), .integer(32)]])
            let sites = try world.hubStore.sites()
            #expect(sites.first { $0.id == "site-b" }?.conflicts == 1)
            #expect(sites.first { $0.id == "site-a" }?.conflicts == 0)

        case .identicalEditsAreNotConflicts:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            try world.exchangeRounds(1)
            try world.site("site-a").database.execute("UPDATE people SET age = 35 WHERE id = 'p1'")
            try world.site("site-b").database.execute("UPDATE people SET age = 35 WHERE id = 'p1'")
            try world.exchangeRounds(2)
            try world.expectIdentical()
            #expect(try world.hubStore.sites().allSatisfy { $0.conflicts == 0 })

        case .deletesTravelAsTombstones:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute(
                "INSERT INTO people VALUES ('p1', 'Amina', 31); INSERT INTO people VALUES ('p2', 'Baraka', 40)")
            try world.exchangeRounds(1)
            try world.site("site-b").database.execute("DELETE FROM people WHERE id = 'p1'")
            try world.exchangeRounds(2)
            try world.expectIdentical()
            #expect(try world.siteRows("site-a", "people").map { $0[0] } == [.text("p2")])
            let bookkeeping = try world.hubRowsWithBookkeeping("people")
            #expect(bookkeeping.first?[4] == .integer(1), "p1 is a tombstone at the hub")
            #expect(bookkeeping.first?[5] == .text("site-b"))

        case .duplicatedAndReorderedBundlesChangeNothing:
            let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
            let database = world.site("site-a").database
            try database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            let first = try world.exportSite("site-a")
            try database.execute("UPDATE people SET age = 32 WHERE id = 'p1'")
            let second = try world.exportSite("site-a")
            #expect(try world.deliverToHub(second).status == .applied)
            #expect(try world.deliverToHub(first).status == .superseded)
            #expect(try world.deliverToHub(second).status == .alreadyApplied)
            try world.deliverToSite("site-a", try world.exportReturn("site-a"))
            #expect(try world.pendingChanges("site-a") == 0)
            #expect(try world.hubRows("people") == [[.text("p1"), .text("Amina"), .integer(32)]])

        case .valuesKeepTheirExactForm:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind) { db in
                try db.execute(
                    """
                    CREATE TABLE samples (id INTEGER PRIMARY KEY, label TEXT, score REAL, photo BLOB,
                        amount NUMERIC_TEXT, active BOOLEAN, day DATE, seen TIMESTAMP, seen_tz TIMESTAMPTZ, ref UUID,
                        doc JSON_TEXT)
                    """)
            }
            try world.site("site-a").database.execute(
                """
                INSERT INTO samples VALUES
                    (9223372036854775807, 'tab\there ü ''quoted''', -0.0, x'0001ff', '12.50', 1, '2024-03-01',
                     '2024-03-01 10:00:00', '2024-03-01 10:00:00+03', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                     '{"b": 1,  "a": [1, 2]}'),
                    (2, '', 0.1, x'', '-0.001', 0, NULL, NULL, '1999-12-31 23:59:59.5-05:30', NULL, 'null'),
                    (3, NULL, 1e300, NULL, '100000000000000000000.000000001', NULL, NULL, NULL, NULL, NULL, NULL)
                """)
            try world.exchangeRounds(2)
            try world.expectIdentical()
            try world.hubSQL.execute("UPDATE samples SET label = 'HQ' WHERE id = 2")
            try world.exchangeRounds(1)
            try world.expectIdentical()
        }
    }
}

@Suite struct SQLiteHubConformanceTests {
    @Test(arguments: Scenario.allCases) func scenario(_ scenario: Scenario) throws {
        try scenario.run(on: .sqlite)
    }
}

@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct PostgresHubConformanceTests {
    @Test(arguments: Scenario.allCases) func scenario(_ scenario: Scenario) throws {
        try scenario.run(on: .postgres)
    }
}
