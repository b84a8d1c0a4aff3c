import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncSQLite
import FieldSyncSite
import FieldSyncTesting
import Testing

@Suite struct ExchangeTests {
    @Test func rowsTravelFromOneSiteThroughTheHubToAnother() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
        }
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(2)
        #expect(
            try world.site("site-b").database.query("SELECT name, age FROM people") == [[.text("Amina"), .integer(31)]])
        try world.expectConverged()
    }
}
