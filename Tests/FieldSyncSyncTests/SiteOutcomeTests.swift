import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import FieldSyncSite
import FieldSyncTesting
import Foundation
import Testing

/// A site applying what the hub says became of its rows: conflicts the site's version won, merged rows, conflicts
/// waiting for a person, and rows a person decided, which the site takes even over a newer local edit and then
/// makes that edit again on top. The return bundles are written here by hand, signed with the hub's key, so each
/// outcome can be set up exactly; the site side is the real one (SQLite file, capture triggers, bundle files).
@Suite struct SiteOutcomeTests {
    /// A site database, its engine, and the hub's keys for writing its return bundles and reading its bundles.
    final class HandSite {
        let directory: TemporaryDirectory
        let returns: HandWrittenReturns
        /// The field application's own connection.
        let app: SQLiteConnection
        let engine: SiteEngine
        var hubKeys: NodeKeys { returns.hubKeys }
        var siteKeys: NodeKeys { returns.siteKeys }

        init() throws {
            directory = try TemporaryDirectory(prefix: "fieldsync-outcomes")
            returns = try HandWrittenReturns(directory: try directory.directory("return"))
            let path = directory.file("site-a.sqlite")
            app = try SQLiteConnection(path: path)
            try app.execute(
                "CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER, amount NUMERIC, note TEXT)")
            let store = try SiteStore.install(path: path, siteID: "site-a", hubID: "hub", tables: nil)
            engine = try SiteEngine(store: store, keys: returns.siteKeys, hub: returns.hubKeys.identity)
            _ = try directory.directory("outbox")
        }

        var schema: TableSchema {
            get throws { try #require(try engine.store.tables().first { $0.name == "people" }) }
        }

        /// A hub change to `people`, at the next hub version.
        func hubChange(_ values: [Value], operation: Change.Operation = .update) -> Change {
            let version = returns.nextVersion()
            return Change(
                operation: operation, origin: "hub", originSequence: version, baseVersion: version - 1,
                version: version, values: values)
        }

        /// Writes a return bundle with `changes` and `outcomes` that acknowledges the site's changes through
        /// `acknowledged`, and has the site import it.
        @discardableResult
        func deliverReturn(_ changes: [Change], outcomes: [RowOutcome] = [], acknowledged: Int64) throws
            -> SiteImport
        {
            try engine.importBundle(paths: try writeReturn(changes, outcomes: outcomes, acknowledged: acknowledged))
        }

        func writeReturn(_ changes: [Change], outcomes: [RowOutcome] = [], acknowledged: Int64) throws -> [String] {
            let table = try schema
            return try returns.write(
                changes.map { (table: "people", change: $0) }, tables: [table], acknowledged: acknowledged,
                outcomes: outcomes)
        }

        /// The site's next bundle, read back with the hub's keys.
        func export() throws -> (header: BundleHeader, changes: [Change]) {
            let written = try engine.export(
                template: .init(kind: .delta, sequence: 0, directory: directory.file("outbox")))
            let read = try BundleFixtures.readAll(written.bundle.paths, sender: siteKeys.identity, recipient: hubKeys)
            return (written.bundle.header, read.changes.map(\.change))
        }

        func people() throws -> [[Value]] {
            try app.query("SELECT id, name, age, amount, note FROM people ORDER BY id")
        }

        /// `local_seq`, `changed`, `hub_version` and `changed_at` of the record `key`.
        func bookkeeping(_ key: String) throws -> [Value] {
            try app.query(
                "SELECT local_seq, changed, hub_version, changed_at FROM _fieldsync_rows WHERE tbl = 'people' AND pk = ?",
                [.text(key)]
            ).first ?? []
        }

        var counters: (value: Int64, acknowledged: Int64) {
            get throws {
                let status = try engine.store.status()
                return (status.changeCounter, status.acknowledgedChange)
            }
        }

        /// Everything an import may change, for comparing before and after.
        func snapshot() throws -> [[Value]] {
            try people() + app.query("SELECT * FROM _fieldsync_rows ORDER BY tbl, pk")
                + app.query("SELECT kind, tbl, pk, origin_seq, hub_id, local_row FROM _fieldsync_outcomes ORDER BY id")
                + app.query("SELECT value, acked FROM _fieldsync_counter")
                + app.query("SELECT key, value FROM _fieldsync_state WHERE key <> 'last_import_at' ORDER BY key")
        }
    }

    static let key = "[\"p1\"]"

    /// The values of `people` as the hub would record a version of the site's row: column name to JSON.
    static func recorded(name: String, age: Int64, amount: String, note: String) -> String {
        "{\"id\":\"p1\",\"name\":\(Value.jsonString(name)),\"age\":\(age),\"amount\":\(Value.jsonString(amount)),"
            + "\"note\":\(Value.jsonString(note))}"
    }

    static func outcome(_ kind: RowOutcome.Kind, id: Int64, originSequence: Int64, values: String? = nil)
        -> RowOutcome
    {
        RowOutcome(
            kind: kind, table: "people", key: key, originSequence: originSequence, id: id, reason: "test",
            values: values)
    }

    /// p1 arrives from the hub (version 1), the site edits its age (change 1) and sends it; the hub acknowledges
    /// the change and reports a conflict waiting for a person.
    static func pendingConflict() throws -> HandSite {
        let site = try HandSite()
        try site.deliverReturn(
            [
                site.hubChange(
                    [.text("p1"), .text("Amina"), .integer(31), .text("12.5"), .text("n")], operation: .insert)
            ],
            acknowledged: 0)
        try site.app.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
        let sent = try site.export().changes
        #expect(sent.count == 1 && sent[0].baseVersion == 1 && sent[0].changedAt != nil)
        let imported = try site.deliverReturn(
            [], outcomes: [outcome(.conflictPending, id: 7, originSequence: 1)], acknowledged: 1)
        #expect(imported.outcomes.map(\.kind) == [.conflictPending])
        // The site keeps its version while the conflict waits; nothing is pending any more.
        #expect(try site.people() == [[.text("p1"), .text("Amina"), .integer(40), .real(12.5), .text("n")]])
        #expect(try site.engine.store.status().pendingChanges == 0)
        return site
    }

    @Test func aDecidedRowReplacesANewerLocalEditWhichIsMadeAgainOnTop() throws {
        let site = try Self.pendingConflict()
        // Edited again before the decision arrives: the name and the note; the age stays the site's 40.
        try site.app.execute("UPDATE people SET name = 'Amina B' WHERE id = 'p1'")
        try site.app.execute("UPDATE people SET note = 'moved' WHERE id = 'p1'")
        let editedAt = try site.bookkeeping(Self.key)[3]
        #expect(editedAt.textValue != nil)

        // A person took the hub's row with a new amount (version 2); the site's version was (Amina, 40, 12.5, n).
        let decided = site.hubChange([.text("p1"), .text("Amina"), .integer(31), .text("20"), .text("n")])
        let resolved = Self.outcome(
            .resolved, id: 7, originSequence: 1,
            values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
        let before = try site.counters
        let imported = try site.deliverReturn([decided], outcomes: [resolved], acknowledged: 1)
        #expect(imported.applied == 1)
        #expect(imported.keptLocal == 0)

        // The decided row, with the columns edited since written back; the amount, 12.5 locally as a real and
        // "12.5" as the hub recorded it, is the same value and was not edited since.
        #expect(try site.people() == [[.text("p1"), .text("Amina B"), .integer(31), .integer(20), .text("moved")]])
        // The edits made again are a new change, based on the decided row, with their own edit time.
        let bookkeeping = try site.bookkeeping(Self.key)
        #expect(bookkeeping[0].integerValue! > before.value)
        #expect(bookkeeping[2] == .integer(2))
        #expect(bookkeeping[3] == editedAt)
        let outcomes = try site.app.query("SELECT kind, hub_id, local_row FROM _fieldsync_outcomes ORDER BY id")
        #expect(
            outcomes == [
                [.text("conflict_pending"), .integer(7), .text("[\"p1\",\"Amina\",40,12.5,\"n\"]")],
                [.text("resolved"), .integer(7), .text("[\"p1\",\"Amina B\",40,12.5,\"moved\"]")],
            ])

        let sent = try site.export().changes
        #expect(sent.count == 1)
        let change = try #require(sent.first)
        #expect(change.operation == .update)
        #expect(change.baseVersion == 2)
        #expect(change.values == [.text("p1"), .text("Amina B"), .integer(31), .text("20"), .text("moved")])
        let schema = try site.schema
        let changed = try #require(change.changedColumns).indexes.map { schema.columns[$0].name }
        #expect(changed == ["name", "note"])
        #expect(change.changedAt == editedAt.textValue)
    }

    @Test func reimportingTheSameReturnBundleChangesNothing() throws {
        let site = try Self.pendingConflict()
        try site.app.execute("UPDATE people SET name = 'Amina B' WHERE id = 'p1'")
        let paths = try site.writeReturn(
            [site.hubChange([.text("p1"), .text("Amina"), .integer(31), .text("20"), .text("n")])],
            outcomes: [
                Self.outcome(
                    .resolved, id: 7, originSequence: 1,
                    values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
            ], acknowledged: 1)
        #expect(try site.engine.importBundle(paths: paths).status == .applied)
        let after = try site.snapshot()
        #expect(try site.engine.importBundle(paths: paths).status == .alreadyApplied)
        #expect(try site.snapshot() == after)
    }

    /// Until the site's acknowledgement reaches the hub, later return bundles repeat the decision; a repeat is an
    /// ordinary correction, so the edit made again stays pending instead of being replaced a second time.
    @Test func aRepeatedDecisionDoesNotReplaceTheEditMadeAgain() throws {
        let site = try Self.pendingConflict()
        try site.app.execute("UPDATE people SET name = 'Amina B' WHERE id = 'p1'")
        let decidedValues: [Value] = [.text("p1"), .text("Amina"), .integer(31), .text("20"), .text("n")]
        let resolved = Self.outcome(
            .resolved, id: 7, originSequence: 1,
            values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
        try site.deliverReturn([site.hubChange(decidedValues)], outcomes: [resolved], acknowledged: 1)
        let expected: [[Value]] = [[.text("p1"), .text("Amina B"), .integer(31), .integer(20), .text("n")]]
        #expect(try site.people() == expected)

        var again = site.hubChange(decidedValues)
        again.version = 2
        let repeated = try site.deliverReturn([again], outcomes: [resolved], acknowledged: 1)
        #expect(repeated.keptLocal == 1)
        #expect(try site.people() == expected)
        #expect(try site.app.scalar("SELECT count(*) FROM _fieldsync_outcomes WHERE kind = 'resolved'") == .integer(1))
    }

    @Test func aDecisionWithoutANewerLocalEditIsAnOrdinaryCorrection() throws {
        let site = try Self.pendingConflict()
        let imported = try site.deliverReturn(
            [site.hubChange([.text("p1"), .text("Amina"), .integer(35), .text("12.5"), .text("n")])],
            outcomes: [
                Self.outcome(
                    .resolved, id: 7, originSequence: 1,
                    values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
            ], acknowledged: 1)
        #expect(imported.applied == 1)
        #expect(try site.people() == [[.text("p1"), .text("Amina"), .integer(35), .real(12.5), .text("n")]])
        #expect(try site.engine.store.status().pendingChanges == 0)
        #expect(try site.bookkeeping(Self.key)[2] == .integer(2))
        #expect(try site.export().changes.isEmpty)
    }

    /// The site deleted the row after the version the hub decided on: its deletion is the newer edit and stands,
    /// now based on the decided row, so the hub judges it as a new change.
    @Test func aNewerLocalDeleteStandsAndBuildsOnTheDecidedRow() throws {
        let site = try Self.pendingConflict()
        try site.app.execute("DELETE FROM people WHERE id = 'p1'")
        let deletedAt = try site.bookkeeping(Self.key)[3]
        let imported = try site.deliverReturn(
            [site.hubChange([.text("p1"), .text("Amina"), .integer(31), .text("12.5"), .text("n")])],
            outcomes: [
                Self.outcome(
                    .resolved, id: 7, originSequence: 1,
                    values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
            ], acknowledged: 1)
        #expect(imported.keptLocal == 1)
        #expect(try site.people().isEmpty)
        #expect(try site.app.scalar("SELECT local_row FROM _fieldsync_outcomes WHERE kind = 'resolved'") == .null)
        let sent = try site.export().changes
        #expect(sent.map(\.operation) == [.delete])
        #expect(sent.first?.baseVersion == 2)
        #expect(sent.first?.changedAt == deletedAt.textValue)
    }

    /// A person decided the row goes: it goes, also over a newer local edit (making that edit again would bring
    /// the row back at the hub without anyone deciding so). The local row is kept in the outcome.
    @Test func aDecidedDeleteRemovesTheRowOverANewerLocalEdit() throws {
        let site = try Self.pendingConflict()
        try site.app.execute("UPDATE people SET note = 'moved' WHERE id = 'p1'")
        let imported = try site.deliverReturn(
            [site.hubChange([.text("p1"), .null, .null, .null, .null], operation: .delete)],
            outcomes: [
                Self.outcome(
                    .resolved, id: 7, originSequence: 1,
                    values: Self.recorded(name: "Amina", age: 40, amount: "12.5", note: "n"))
            ], acknowledged: 1)
        #expect(imported.applied == 1)
        #expect(try site.people().isEmpty)
        #expect(
            try site.app.scalar("SELECT local_row FROM _fieldsync_outcomes WHERE kind = 'resolved'")
                == .text("[\"p1\",\"Amina\",40,12.5,\"moved\"]"))
        // What still goes to the hub is the row's deletion, based on the hub's tombstone: nothing to judge there.
        let sent = try site.export().changes
        #expect(sent.map(\.operation) == [.delete])
        #expect(sent.first?.baseVersion == 2)
    }

    @Test func theOtherConflictOutcomesAreRecordedAndAMergedRowIsTaken() throws {
        let site = try HandSite()
        try site.deliverReturn(
            [
                site.hubChange([.text("p1"), .text("Amina"), .integer(31), .null, .null], operation: .insert),
                site.hubChange([.text("p2"), .text("Bilal"), .integer(50), .null, .null], operation: .insert),
                site.hubChange([.text("p3"), .text("Chen"), .integer(22), .null, .null], operation: .insert),
            ], acknowledged: 0)
        try site.app.execute("UPDATE people SET age = age + 1")
        #expect(try site.export().changes.count == 3)
        let merged = site.hubChange([.text("p2"), .text("Bilal M"), .integer(51), .null, .null])
        let imported = try site.deliverReturn(
            [merged],
            outcomes: [
                RowOutcome(
                    kind: .conflictSiteApplied, table: "people", key: "[\"p1\"]", originSequence: 1, id: 1,
                    reason: "your version was newer"),
                RowOutcome(
                    kind: .conflictMerged, table: "people", key: "[\"p2\"]", originSequence: 2, id: 2,
                    reason: "columns of both versions were combined"),
                RowOutcome(
                    kind: .conflictPending, table: "people", key: "[\"p3\"]", originSequence: 3, id: 3,
                    reason: "waiting for a decision at the hub"),
            ], acknowledged: 3)
        #expect(imported.applied == 1)
        #expect(
            try site.people() == [
                [.text("p1"), .text("Amina"), .integer(32), .null, .null],
                [.text("p2"), .text("Bilal M"), .integer(51), .null, .null],
                [.text("p3"), .text("Chen"), .integer(23), .null, .null],
            ])
        #expect(
            try site.app.query("SELECT kind, pk, origin_seq, hub_id, local_row FROM _fieldsync_outcomes ORDER BY id")
                == [
                    [
                        .text("conflict_site_applied"), .text("[\"p1\"]"), .integer(1), .integer(1),
                        .text("[\"p1\",\"Amina\",32,null,null]"),
                    ],
                    [
                        .text("conflict_merged"), .text("[\"p2\"]"), .integer(2), .integer(2),
                        .text("[\"p2\",\"Bilal\",51,null,null]"),
                    ],
                    [
                        .text("conflict_pending"), .text("[\"p3\"]"), .integer(3), .integer(3),
                        .text("[\"p3\",\"Chen\",23,null,null]"),
                    ],
                ])
        #expect(try site.engine.store.status().outcomes == 3)
        #expect(try site.export().changes.isEmpty)
    }

    // MARK: - Edit times

    @Test func editTimesTravelAndRowsPresentWhenTrackingBeganHaveNone() throws {
        let directory = try TemporaryDirectory(prefix: "fieldsync-outcomes")
        let path = directory.file("site-a.sqlite")
        let app = try SQLiteConnection(path: path)
        try app.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)")
        try app.execute("INSERT INTO people VALUES ('p0', 'before tracking')")
        let hub = try NodeKeys.generate(id: "hub")
        let keys = try NodeKeys.generate(id: "site-a")
        let store = try SiteStore.install(path: path, siteID: "site-a", hubID: "hub", tables: nil)
        let engine = try SiteEngine(store: store, keys: keys, hub: hub.identity)
        let start = Date().timeIntervalSince1970
        try app.execute("INSERT INTO people VALUES ('p1', 'Amina')")
        let written = try engine.export(template: .init(kind: .delta, sequence: 0, directory: directory.path))
        let changes = try BundleFixtures.readAll(written.bundle.paths, sender: keys.identity, recipient: hub).changes
        #expect(changes.count == 2)
        let times = Dictionary(uniqueKeysWithValues: changes.map { ($0.change.values[0], $0.change.changedAt) })
        #expect(times[.text("p0")] == .some(nil))
        let stamped = try #require(times[.text("p1")] ?? nil)
        // ISO 8601 UTC with milliseconds, as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes it.
        #expect(stamped.utf8.count == 24 && stamped.hasSuffix("Z") && stamped.contains("."))
        let time = try #require(SiteClock.parse(stamped))
        #expect(abs(time - start) < 60)
    }

    /// A site whose clock is off writes that error into the bundle's `created` and every edit time, by the same
    /// amount, however often a change travels.
    @Test func aSiteClockOffsetShiftsCreatedAndEditTimesOnceInEveryBundle() throws {
        let site = try HandSite()
        try site.app.execute("INSERT INTO people (id, name) VALUES ('p1', 'Amina')")
        let stored = try #require(try site.bookkeeping(Self.key)[3].textValue)
        site.engine.clockOffset = -7200.5
        for _ in 0..<2 {
            let (header, changes) = try site.export()
            let created = try #require(SiteClock.parse(header.created))
            #expect(abs(created - (Date().timeIntervalSince1970 - 7200.5)) < 60)
            let shifted = try #require(changes.first?.changedAt)
            let difference = try #require(SiteClock.parse(shifted)) - (try #require(SiteClock.parse(stored)))
            #expect(abs(difference + 7200.5) < 0.0015)
        }
        #expect(try site.bookkeeping(Self.key)[3] == .text(stored))
        site.engine.clockOffset = 0
        #expect(try site.export().changes.first?.changedAt == stored)
    }

    @Test func aWorldSiteClockSetsTheCreatedTimeOfItsBundles() throws {
        let world = try SyncWorld(sites: ["site-a", "site-b"]) { db in
            try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)")
        }
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina')")
        world.setSiteClock("site-a", offset: 3 * 3600)
        let ahead = try #require(SiteClock.parse(try world.exportSiteBundle("site-a").bundle.header.created))
        #expect(abs(ahead - Date().timeIntervalSince1970 - 3 * 3600) < 60)
        let right = try #require(SiteClock.parse(try world.exportSiteBundle("site-b").bundle.header.created))
        #expect(abs(right - Date().timeIntervalSince1970) < 60)
        #expect(try world.siteEditTimes("site-a", "people")[Self.key]?.textValue != nil)
        world.setSiteClock("site-a", offset: 0)
        try world.exchangeRounds(2)
        try world.expectIdentical()
    }

    /// A database tracked by a release from before edit times: opening it adds the column and makes the capture
    /// triggers anew; changes recorded before have no edit time, changes after have one.
    @Test func anOlderSiteDatabaseGetsEditTimesOnOpen() throws {
        let site = try HandSite()
        let path = site.directory.file("site-a.sqlite")
        // Turn the database into what the older release made: triggers without changed_at, no such column.
        let triggers = try site.app.query(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '_fieldsync_people_%'")
        try site.app.withTransaction {
            for trigger in triggers {
                guard case .text(let name) = trigger[0], case .text(let sql) = trigger[1] else { continue }
                try site.app.execute("DROP TRIGGER \(Identifier.quoted(name))")
                try site.app.execute(Self.withoutEditTimes(sql))
            }
            try site.app.execute("ALTER TABLE _fieldsync_rows DROP COLUMN changed_at")
        }
        try site.app.execute("INSERT INTO people (id, name) VALUES ('p0', 'old release')")
        #expect(try site.app.scalar("SELECT count(*) FROM _fieldsync_rows") == .integer(1))

        let reopened = try SiteStore(path: path)
        #expect(
            try site.app.scalar("SELECT count(*) FROM pragma_table_info('_fieldsync_rows') WHERE name = 'changed_at'")
                == .integer(1))
        #expect(
            try site.app.scalar(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '_fieldsync_people_%' "
                    + "AND sql LIKE '%changed_at%'") == .integer(5))  // insert, update, delete, replaced (×2)
        try site.app.execute("INSERT INTO people (id, name) VALUES ('p1', 'new release')")
        #expect(try site.bookkeeping("[\"p0\"]")[3] == .null)
        #expect(try site.bookkeeping(Self.key)[3].textValue != nil)
        // Opening again finds nothing to do.
        _ = try SiteStore(path: path)
        #expect(try reopened.status().pendingChanges == 2)
    }

    /// A capture trigger's SQL as the release before edit times wrote it.
    static func withoutEditTimes(_ sql: String) -> String {
        var text = sql
        for (pattern, replacement) in [
            (#",\s*changed_at = excluded\.changed_at"#, ""),
            (#",\s*strftime\('%Y-%m-%dT%H:%M:%fZ', 'now'\)"#, ""),
            (#", changed_at\)"#, ")"),
        ] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }
}
