import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

/// Conflict rules, manual resolution, notifications and set-aside rows, end to end with real sites and bundles.
/// Every scenario runs against the embedded SQLite hub store and against PostgreSQL (skipped, with a message, when
/// no PostgreSQL server is configured): both stores must behave the same.
enum ConflictScenario: String, CaseIterable, CustomStringConvertible, Sendable {
    case serverWinsKeepsTheHubRow
    case aPersonOverridesWhatTheRuleDecided
    case aPersonsDecisionSurvivesTheSitesLaterEditOfAnotherColumn
    case retryDoesNotOverwriteTheSitesLaterEdit
    case clientWinsAppliesTheSiteRow
    case lastWriteWinsTakesTheLaterEdit
    case fieldMergeCombinesDisjointColumns
    case fieldMergeKeepsTheHubEditWhenTheSiteEditsAgainBeforeHearing
    case fieldMergeKnowsTheRowASiteMadeItself
    case fieldMergeTakesTheSitesSecondValueOfTheSameColumn
    case fieldMergeOverlapFallsBackToServerWins
    case fieldMergeOverlapFallsBackToClientWins
    case fieldMergeOverlapFallsBackToLastWriteWins
    case fieldMergeOverlapFallsBackToManual
    case fieldMergeOnlyMergesTheMergeFields
    case manualWaitsForAPerson
    case manualResolvedWithTheSiteRow
    case manualResolvedWithTheHubRow
    case manualResolvedMergedWithASetValue
    case resolvedConflictKeepsTheSiteNewerEdit
    case onlyRealConflictsAreDetected
    case sameValueEditsAreNotConflicts
    case duplicatedBundleRecordsNoNewConflict
    case siteDeleteAgainstHubEditServerWins
    case siteDeleteAgainstHubEditClientWins
    case siteEditAgainstHubDeleteServerWins
    case siteEditAgainstHubDeleteClientWins
    case siteClockAheadIsCorrected
    case siteClockBehindIsCorrected
    case conflictRecordsCarryEverything
    case notificationsOnlyForNotifyTables
    case setAsideRowIsRetriedAfterTheFix

    var description: String { rawValue }

    func run(on kind: HubStoreKind) throws {
        switch self {
        case .serverWinsKeepsTheHubRow:
            let world = try Self.world(kind, rule: .serverWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 1 && report.applied == 0)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.rule == .serverWins && conflict.decision == .hubKept)
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(age: 40))

        case .aPersonOverridesWhatTheRuleDecided:
            let world = try Self.world(kind, rule: .serverWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            _ = try world.sendToHub("site-a")
            try Self.settle(world)
            #expect(try world.siteRow("site-a", "people", .text("p1")) == Self.p1(age: 40))
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            try world.hubStore.resolveConflict(ConflictResolution(id: conflict.id, take: .site))
            #expect(try world.hubStore.conflict(id: conflict.id).decision == .resolvedSite)
            #expect(throws: StoreError.self, "a person's decision stands") {
                try world.hubStore.resolveConflict(ConflictResolution(id: conflict.id, take: .hub))
            }
            try Self.settle(world)
            for site in ["site-a", "site-b"] {
                #expect(try world.siteRow(site, "people", .text("p1")) == Self.p1(age: 35))
            }

        case .aPersonsDecisionSurvivesTheSitesLaterEditOfAnotherColumn:
            // server_wins kept the hub's age and the site took it; the site then edits the note. A person decides
            // for the site's age: the site's later note travels, and the age it took from the hub does not come
            // back as if the site had edited it.
            let world = try Self.world(kind, rule: .serverWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            try world.returnToSite("site-a")
            #expect(try world.siteRow("site-a", "people", .text("p1")) == Self.p1(age: 40))
            try world.siteSQL("site-a", "UPDATE people SET note = 'later' WHERE id = 'p1'")
            let id = try #require(try world.hubStore.conflicts(ConflictFilter()).first?.id)
            try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .site))
            try world.returnToSite("site-a")
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(age: 35, note: "later"))

        case .retryDoesNotOverwriteTheSitesLaterEdit:
            // A code change set aside (unique at the hub); the site then edits the label, which applies. Retrying
            // the set-aside change after the fix is judged against that later edit: a conflict, not an overwrite.
            let world = try SyncWorld(sites: ["site-a"], hub: kind) { db in
                try db.execute("CREATE TABLE tags (id TEXT PRIMARY KEY, code TEXT, label TEXT)")
            }
            try world.hubSQL.execute(
                "CREATE UNIQUE INDEX tags_code ON tags (code); "
                    + "INSERT INTO tags (id, code, label) VALUES ('h1', 'X', 'from HQ'); "
                    + "INSERT INTO tags (id, code, label) VALUES ('t1', 'A', 'orig')")
            try world.exchangeRounds(1)
            try world.siteSQL("site-a", "UPDATE tags SET code = 'X' WHERE id = 't1'")
            #expect(try world.sendToHub("site-a").rejected == 1)
            try world.returnToSite("site-a")
            try world.siteSQL("site-a", "UPDATE tags SET label = 'newer' WHERE id = 't1'")
            #expect(try world.sendToHub("site-a").applied == 1)
            try world.hubSQL.execute("UPDATE tags SET code = 'X-old' WHERE id = 'h1'")
            let id = try #require(
                try world.hubStore.rejectedRows(site: nil, table: nil, includeApplied: false).first?.id)
            let result = try world.hubStore.retryRejected(id: id)
            guard case .conflict = result else {
                Issue.record("the retry should meet the site's later edit as a conflict, not \(result)")
                return
            }
            #expect(try world.hubRow("tags", .text("t1")) == [.text("t1"), .text("A"), .text("newer")])
            #expect(
                try world.hubStore.rejectedRows(site: nil, table: nil, includeApplied: true).first?.status == .conflict)

        case .clientWinsAppliesTheSiteRow:
            let world = try Self.world(kind, rule: .clientWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 1 && report.applied == 0)
            #expect(try world.hubStore.conflicts(ConflictFilter()).map(\.decision) == [.siteApplied])
            let outcomes = try world.returnToSite("site-a").outcomes
            #expect(outcomes.map(\.kind) == [.conflictSiteApplied])
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(age: 35))
            let bookkeeping = try world.hubRowsWithBookkeeping("people")
            #expect(bookkeeping.first?[6] == .text("site-a"), "the site's version carries its origin")

        case .lastWriteWinsTakesTheLaterEdit:
            let world = try Self.world(kind, rule: .lastWriteWins, rows: 2)
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            Self.pause()
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id IN ('p1', 'p2')")
            Self.pause()
            try world.siteSQL("site-a", "UPDATE people SET age = 36 WHERE id = 'p2'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 2)
            let conflicts = try world.hubStore.conflicts(ConflictFilter())
            #expect(
                conflicts.map(\.decision) == [.hubKept, .siteApplied], "p1: the hub's edit is later; p2: the site's")
            #expect(conflicts.allSatisfy { $0.siteTime != nil && $0.hubTime != nil })
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1"))?[2] == .integer(40))
            #expect(try world.hubRow("people", .text("p2"))?[2] == .integer(36))

        case .fieldMergeCombinesDisjointColumns:
            let world = try Self.world(kind, rule: .fieldMerge)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name' WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 1)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.decision == .merged && conflict.contested.isEmpty)
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(name: "HQ name", age: 35))

        case .fieldMergeTakesTheSitesSecondValueOfTheSameColumn:
            // The site changes the age twice before it hears of the merge of its first change: the merged row holds
            // the site's own first age, so the second is the site's change alone and goes in.
            let world = try Self.world(kind, rule: .fieldMerge)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name' WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            try world.siteSQL("site-a", "UPDATE people SET age = 36 WHERE id = 'p1'")
            _ = try world.sendToHub("site-a")
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(name: "HQ name", age: 36))
            try Self.settle(world)

        case .fieldMergeKnowsTheRowASiteMadeItself:
            // A row the site created never comes back to it, so its edits are based on version 0; the base is the
            // version the site itself made, which the hub kept.
            let world = try Self.world(kind, rule: .fieldMerge)
            try world.siteSQL("site-a", "INSERT INTO people VALUES ('p9', 'Baraka', 40, 'new')")
            _ = try world.sendToHub("site-a")
            try world.hubSQL.execute("UPDATE people SET name = 'Baraka O.' WHERE id = 'p9'")
            try world.siteSQL("site-a", "UPDATE people SET age = 41 WHERE id = 'p9'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).last)
            #expect(conflict.decision == .merged && conflict.base != nil)
            try Self.settle(world)
            #expect(
                try world.siteRow("site-a", "people", .text("p9"))
                    == [.text("p9"), .text("Baraka O."), .integer(41), .text("new")])

        case .fieldMergeKeepsTheHubEditWhenTheSiteEditsAgainBeforeHearing:
            // The merged row is the hub's making: the site's next edit, still based on the old row, must meet it as
            // someone else's change and merge again, not overwrite the hub's name with the site's old one.
            let world = try Self.world(kind, rule: .fieldMerge)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name' WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            try world.siteSQL("site-a", "UPDATE people SET note = 'second' WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(name: "HQ name", age: 35, note: "second"))
            try Self.settle(world)
            #expect(
                try world.siteRow("site-a", "people", .text("p1")) == Self.p1(name: "HQ name", age: 35, note: "second"))

        case .fieldMergeOverlapFallsBackToServerWins, .fieldMergeOverlapFallsBackToClientWins,
            .fieldMergeOverlapFallsBackToLastWriteWins, .fieldMergeOverlapFallsBackToManual:
            let fallback: ConflictStrategy =
                switch self {
                case .fieldMergeOverlapFallsBackToServerWins: .serverWins
                case .fieldMergeOverlapFallsBackToClientWins: .clientWins
                case .fieldMergeOverlapFallsBackToLastWriteWins: .lastWriteWins
                default: .manual
                }
            let world = try Self.world(kind, rule: .fieldMerge, fallback: fallback)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name', age = 40 WHERE id = 'p1'")
            Self.pause()
            try world.siteSQL("site-a", "UPDATE people SET age = 35, note = 'site note' WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 1)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.contested == ["age"])
            switch fallback {
            case .manual:
                #expect(conflict.decision == .pending && report.pendingConflicts == 1)
                #expect(try world.hubRow("people", .text("p1")) == Self.p1(name: "HQ name", age: 40))
            default:
                #expect(conflict.decision == .merged)
                try Self.settle(world)
                let age: Int64 = fallback == .serverWins ? 40 : 35
                #expect(
                    try world.hubRow("people", .text("p1")) == Self.p1(name: "HQ name", age: age, note: "site note"))
            }

        case .fieldMergeOnlyMergesTheMergeFields:
            let world = try Self.world(kind, rule: .fieldMerge, mergeFields: ["name"])
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET name = 'Site name', note = 'site note' WHERE id = 'p1'")
            try world.sendToHub("site-a")
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.decision == .merged && conflict.contested == ["note"])
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(name: "Site name", age: 40))

        case .manualWaitsForAPerson:
            let world = try Self.world(kind, rule: .manual)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 1 && report.pendingConflicts == 1)
            #expect(try world.hubStore.conflicts(ConflictFilter(pendingOnly: true)).count == 1)
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(age: 40), "the hub keeps its row meanwhile")
            #expect(try world.returnToSite("site-a").outcomes.map(\.kind) == [.conflictPending])
            let id = try #require(try world.hubStore.conflicts(ConflictFilter()).first?.id)
            try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .hub))
            #expect(throws: StoreError.self) {
                try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .site))
            }
            #expect(try world.hubStore.conflicts(ConflictFilter(pendingOnly: true)).isEmpty)

        case .manualResolvedWithTheSiteRow, .manualResolvedWithTheHubRow, .manualResolvedMergedWithASetValue:
            let world = try Self.world(kind, rule: .manual)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name', age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35, note = 'site note' WHERE id = 'p1'")
            try world.sendToHub("site-a")
            try world.exchangeRounds(1)
            let id = try #require(try world.hubStore.conflicts(ConflictFilter(pendingOnly: true)).first?.id)
            let expected: [Value]
            switch self {
            case .manualResolvedWithTheSiteRow:
                let record = try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .site))
                #expect(record.decision == .resolvedSite && record.resolvedAt != nil)
                expected = Self.p1(age: 35, note: "site note")
            case .manualResolvedWithTheHubRow:
                let record = try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .hub))
                #expect(record.decision == .resolvedHub)
                expected = Self.p1(name: "HQ name", age: 40)
            default:
                let record = try world.hubStore.resolveConflict(
                    ConflictResolution(id: id, take: .merged, set: [(column: "age", text: "38")]))
                #expect(record.decision == .resolvedMerged)
                // A manual table keeps no earlier versions, so "merged" starts from the hub's row.
                expected = Self.p1(name: "HQ name", age: 38)
            }
            #expect(try world.hubRow("people", .text("p1")) == expected)
            let outcomes = try world.returnToSite("site-a").outcomes
            #expect(outcomes.contains { $0.kind == .resolved && $0.values != nil })
            try world.exchangeRounds(2)
            try world.expectIdentical()
            for site in ["site-a", "site-b"] {
                #expect(try world.siteRow(site, "people", .text("p1")) == expected, "reaches \(site)")
            }

        case .resolvedConflictKeepsTheSiteNewerEdit:
            let world = try Self.world(kind, rule: .manual)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            try world.sendToHub("site-a")
            try world.returnToSite("site-a")
            try world.siteSQL("site-a", "UPDATE people SET note = 'later' WHERE id = 'p1'")
            let id = try #require(try world.hubStore.conflicts(ConflictFilter(pendingOnly: true)).first?.id)
            try world.hubStore.resolveConflict(ConflictResolution(id: id, take: .hub))
            try world.returnToSite("site-a")
            try world.exchangeRounds(2)
            try world.expectIdentical()
            #expect(try world.hubRow("people", .text("p1")) == Self.p1(age: 40, note: "later"))
            #expect(try world.hubStore.conflicts(ConflictFilter()).count == 1)

        case .onlyRealConflictsAreDetected:
            let world = try SyncWorld(sites: ["site-a"], quiet: true, hub: kind, schema: Self.numbers)
            try world.hubSQL.execute(
                "INSERT INTO numbers (n, value) "
                    + "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 999) "
                    + "SELECT n, 0 FROM s")
            try world.exchangeRounds(1)
            #expect(try world.siteRows("site-a", "numbers").count == 1000)
            try world.hubSQL.execute("UPDATE numbers SET value = 1 WHERE n < 500")
            try world.siteSQL("site-a", "UPDATE numbers SET value = 2")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 500 && report.applied == 500)
            let conflicts = try world.hubStore.conflicts(ConflictFilter(site: "site-a"))
            #expect(conflicts.count == 500)
            #expect(conflicts.allSatisfy { ($0.incoming.first?.integerValue ?? 1000) < 500 }, "no false conflict")

        case .sameValueEditsAreNotConflicts:
            let world = try Self.world(kind, rule: .clientWins)
            try world.hubSQL.execute("UPDATE people SET age = 50 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 50 WHERE id = 'p1'")
            let report = try world.sendToHub("site-a")
            #expect(report.conflicts == 0 && report.unchanged == 1)
            try Self.settle(world)
            #expect(try world.hubStore.conflicts(ConflictFilter()).isEmpty)

        case .duplicatedBundleRecordsNoNewConflict:
            let world = try Self.world(kind, rule: .serverWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            let paths = try world.exportSite("site-a")
            #expect(try world.deliverToHub(paths).conflicts == 1)
            #expect(try world.deliverToHub(paths).status == .alreadyApplied)
            try world.returnToSite("site-a")
            #expect(try world.deliverToHub(paths).status == .alreadyApplied)
            #expect(try world.hubStore.conflicts(ConflictFilter()).count == 1)

        case .siteDeleteAgainstHubEditServerWins, .siteDeleteAgainstHubEditClientWins:
            let serverWins = self == .siteDeleteAgainstHubEditServerWins
            let world = try Self.world(kind, rule: serverWins ? .serverWins : .clientWins)
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "DELETE FROM people WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.incomingOperation == .delete)
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == (serverWins ? Self.p1(age: 40) : nil))

        case .siteEditAgainstHubDeleteServerWins, .siteEditAgainstHubDeleteClientWins:
            let serverWins = self == .siteEditAgainstHubDeleteServerWins
            let world = try Self.world(kind, rule: serverWins ? .serverWins : .clientWins)
            try world.hubSQL.execute("DELETE FROM people WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            #expect(try world.sendToHub("site-a").conflicts == 1)
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.hubRow == nil, "the hub's row was a tombstone")
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1")) == (serverWins ? nil : Self.p1(age: 35)))

        case .siteClockAheadIsCorrected, .siteClockBehindIsCorrected:
            let ahead = self == .siteClockAheadIsCorrected
            let tenYears = 10 * 365.25 * 86_400
            let world = try Self.world(kind, rule: .lastWriteWins, rows: 2)
            world.setSiteClock("site-a", offset: ahead ? tenYears : -tenYears)
            // p1: the site edits first, the hub later, and only the site's clock says otherwise (ahead).
            try world.siteSQL("site-a", "UPDATE people SET age = 35 WHERE id = 'p1'")
            Self.pause()
            try world.hubSQL.execute("UPDATE people SET age = 40 WHERE id IN ('p1', 'p2')")
            Self.pause()
            // p2: the hub edits first, the site later, and only the site's clock says otherwise (behind). The
            // site acknowledges a return bundle written after the hub's edit, which bounds its clock from below;
            // it keeps its own edit of p2 over the hub's.
            try world.siteSQL("site-a", "UPDATE people SET age = 36 WHERE id = 'p2'")
            try world.returnToSite("site-a")
            let report = try world.sendToHub("site-a")
            #expect(report.clockOffset != nil)
            #expect(try world.hubLogMessages(status: "clock_skew").count == 1)
            let decisions = try world.hubStore.conflicts(ConflictFilter()).map { ($0.key, $0.decision) }
            #expect(decisions.map(\.0) == ["[\"p1\"]", "[\"p2\"]"])
            #expect(decisions.map(\.1) == [.hubKept, .siteApplied])
            try Self.settle(world)
            #expect(try world.hubRow("people", .text("p1"))?[2] == .integer(40))
            #expect(try world.hubRow("people", .text("p2"))?[2] == .integer(36))

        case .conflictRecordsCarryEverything:
            let world = try Self.world(kind, rule: .fieldMerge)
            let base = try #require(try world.hubRowsWithBookkeeping("people").first?[4].integerValue)
            try world.hubSQL.execute("UPDATE people SET name = 'HQ name', age = 40 WHERE id = 'p1'")
            try world.siteSQL("site-a", "UPDATE people SET age = 35, note = 'site note' WHERE id = 'p1'")
            let hubVersion = try #require(try world.hubRowsWithBookkeeping("people").first?[4].integerValue)
            let report = try world.sendToHub("site-a")
            let conflict = try #require(try world.hubStore.conflicts(ConflictFilter()).first)
            #expect(conflict.site == "site-a" && conflict.table == "people" && conflict.key == "[\"p1\"]")
            #expect(conflict.bundleID == report.bundleID && conflict.originSequence > 0)
            #expect(conflict.baseVersion == base && conflict.hubVersion == hubVersion && conflict.hubOrigin == nil)
            #expect(conflict.rule == .fieldMerge && conflict.decision == .merged && conflict.contested == ["age"])
            #expect(conflict.columns == ["id", "name", "age", "note"])
            #expect(conflict.incomingOperation == .update)
            #expect(conflict.incoming == Self.p1(age: 35, note: "site note"))
            #expect(conflict.hubRow == Self.p1(name: "HQ name", age: 40))
            #expect(conflict.base == Self.p1())
            let shown = try world.hubStore.conflict(id: conflict.id)
            #expect(shown.current == Self.p1(name: "HQ name", age: 40, note: "site note"))
            #expect(throws: StoreError.self) { try world.hubStore.conflict(id: conflict.id + 1000) }

        case .notificationsOnlyForNotifyTables:
            let world = try SyncWorld(sites: ["site-a"], hub: kind) { db in
                try SyncWorld.people(db)
                try db.execute("CREATE TABLE places (id TEXT PRIMARY KEY, name TEXT)")
            }
            try world.setRule("people", .manual, notify: true)
            try world.setRule("places", .serverWins)
            try world.hubSQL.execute(
                "INSERT INTO people (id, name, age, note) VALUES ('p1', 'Amina', 31, 'first'); "
                    + "INSERT INTO places (id, name) VALUES ('k1', 'Kakuma')")
            try world.exchangeRounds(1)
            try world.hubSQL.execute(
                "UPDATE people SET age = 40 WHERE id = 'p1'; UPDATE places SET name = 'HQ' WHERE id = 'k1'")
            try world.siteSQL(
                "site-a", "UPDATE people SET age = 35 WHERE id = 'p1'; UPDATE places SET name = 'Site' WHERE id = 'k1'")
            #expect(try world.sendToHub("site-a").conflicts == 2)
            let now = Date().timeIntervalSince1970
            let due = try world.hubStore.dueNotifications(now: now, limit: 10)
            #expect(due.count == 1 && due.first?.table == "people" && due.first?.site == "site-a")
            let notification = try #require(due.first)
            let details = try #require(
                try JSONSerialization.jsonObject(with: Data(notification.details.utf8)) as? [String: Any])
            let conflictID = try #require(try world.hubStore.conflicts(ConflictFilter(table: "people")).first?.id)
            #expect(details["type"] as? String == "sync_conflict")
            #expect(Self.integer(details["conflict_id"]) == conflictID)
            #expect(details["rule"] as? String == "manual" && details["decision"] as? String == "pending")
            try world.hubStore.recordDelivery(of: notification.id, error: "connection refused", now: now)
            #expect(try world.hubStore.dueNotifications(now: now + 1, limit: 10).isEmpty)
            let again = try world.hubStore.dueNotifications(now: now + 61, limit: 10)
            #expect(again.map(\.id) == [notification.id] && again.first?.attempts == 1)
            try world.hubStore.recordDelivery(of: notification.id, error: "connection refused", now: now + 61)
            #expect(try world.hubStore.dueNotifications(now: now + 61 + 119, limit: 10).isEmpty)
            #expect(try world.hubStore.dueNotifications(now: now + 61 + 121, limit: 10).count == 1)
            try world.hubStore.recordDelivery(of: notification.id, error: nil, now: now + 200)
            #expect(try world.hubStore.dueNotifications(now: now + 100_000, limit: 10).isEmpty)
            #expect(try world.notificationStatuses() == ["pending"])
            try world.hubStore.resolveConflict(ConflictResolution(id: conflictID, take: .site))
            #expect(try world.notificationStatuses() == ["resolved"])

        case .setAsideRowIsRetriedAfterTheFix:
            let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind) { db in
                try db.execute("CREATE TABLE tags (id TEXT PRIMARY KEY, code TEXT UNIQUE, label TEXT)")
            }
            // The hub's table is made from the site's columns; its unique index is the hub's own.
            try world.hubSQL.execute(
                "CREATE UNIQUE INDEX tags_code ON tags (code); "
                    + "INSERT INTO tags (id, code, label) VALUES ('h1', 'X', 'from HQ')")
            try world.siteSQL(
                "site-a",
                "INSERT INTO tags VALUES ('t1', 'X', 'from the field'); INSERT INTO tags VALUES ('t2', 'Y', 'fine')")
            let report = try world.sendToHub("site-a")
            #expect(report.rejected == 1 && report.applied == 1, "the rest of the bundle is applied")
            let outcomes = try world.returnToSite("site-a").outcomes
            #expect(outcomes.map(\.kind) == [.rejected] && outcomes.first?.key == "[\"t1\"]")
            let rejected = try world.hubStore.rejectedRows(site: "site-a", table: nil, includeApplied: false)
            #expect(rejected.map(\.key) == ["[\"t1\"]"] && rejected.first?.status == .setAside)
            let id = try #require(rejected.first?.id)
            guard case .failed = try world.hubStore.retryRejected(id: id) else {
                Issue.record("the blocking row is still there")
                return
            }
            try world.hubSQL.execute("UPDATE tags SET code = 'X-old' WHERE id = 'h1'")
            #expect(try world.hubStore.retryRejected(id: id) == .applied)
            #expect(try world.hubStore.rejectedRows(site: nil, table: nil, includeApplied: false).isEmpty)
            #expect(
                try world.hubStore.rejectedRows(site: nil, table: "tags", includeApplied: true).map(\.status)
                    == [.applied])
            try world.exchangeRounds(2)
            try world.expectIdentical()
            for site in ["site-a", "site-b"] {
                #expect(
                    try world.siteRow(site, "tags", .text("t1"))
                        == [.text("t1"), .text("X"), .text("from the field")], "reaches \(site)")
            }
        }
    }

    // MARK: Helpers

    /// Two sites with `rows` people (p1, p2, …) made at the hub and received by both, so both sites know the
    /// hub's version of each row; `table`'s rule set first.
    static func world(
        _ kind: HubStoreKind, rule strategy: ConflictStrategy, fallback: ConflictStrategy = .serverWins,
        mergeFields: [String]? = nil, rows: Int = 1
    ) throws -> SyncWorld {
        let world = try SyncWorld(sites: ["site-a", "site-b"], hub: kind, schema: SyncWorld.people)
        try world.setRule("people", strategy, fallback: fallback, mergeFields: mergeFields)
        for row in 1...rows {
            try world.hubSQL.execute(
                "INSERT INTO people (id, name, age, note) VALUES ('p\(row)', 'Amina', 31, 'first')")
        }
        try world.exchangeRounds(1)
        return world
    }

    static func numbers(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE numbers (n INTEGER PRIMARY KEY, value INTEGER)")
    }

    /// The row p1 as the hub seeds it, with the given changes.
    static func p1(name: String = "Amina", age: Int64 = 31, note: String = "first") -> [Value] {
        [.text("p1"), .text(name), .integer(age), .text(note)]
    }

    /// Every bundle both ways until all sites hold the hub's rows.
    static func settle(_ world: SyncWorld) throws {
        try world.exchangeRounds(2)
        try world.expectIdentical()
    }

    /// Long enough for edit times on the hub's and the sites' clocks to differ clearly, even once a site's clock
    /// has been corrected to the bounds a bundle shows (which can put its edits up to an export earlier).
    static func pause() {
        Thread.sleep(forTimeInterval: 1)
    }

    /// A JSON number as JSONSerialization gives it.
    static func integer(_ value: Any?) -> Int64? {
        if let number = value as? Int { return Int64(number) }
        if let number = value as? Int64 { return number }
        return (value as? NSNumber)?.int64Value
    }
}

@Suite struct ConflictRuleTests {
    @Test(arguments: ConflictScenario.allCases) func withSQLiteHub(_ scenario: ConflictScenario) throws {
        try scenario.run(on: .sqlite)
    }

    @Test(
        .enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)),
        arguments: ConflictScenario.allCases)
    func withPostgresHub(_ scenario: ConflictScenario) throws {
        try scenario.run(on: .postgres)
    }

    /// An embedded hub store made by an earlier release gains the new bookkeeping columns when opened.
    @Test func olderEmbeddedStoreGainsTheNewColumns() throws {
        let directory = try TemporaryDirectory(prefix: "fieldsync-old-hub")
        let path = directory.file("hub.sqlite")
        try SQLiteHubStore.create(path: path, hubID: "hub")
        let added = [
            "_fieldsync_conflicts": [
                "base_row", "contested", "site_time", "hub_time", "resolved_at", "resolution",
                "resolved_return_sequence",
            ],
            "_fieldsync_rejected": ["base_version", "changed", "status", "retried_at", "attempts"],
        ]
        let old = try SQLiteConnection(path: path)
        for (table, columns) in added {
            for column in columns { try old.execute("ALTER TABLE \(table) DROP COLUMN \(column)") }
        }
        // Two sites, one already sent a return bundle, at hub version 7; no record of what that bundle carried.
        try old.execute(
            "ALTER TABLE _fieldsync_sites DROP COLUMN sent_version; UPDATE _fieldsync_counter SET version = 7; "
                + "INSERT INTO _fieldsync_sites (site_id, name, public_key, registered_at, last_return_sequence) "
                + "VALUES ('sent', 'S', 'key', '2024-01-01T00:00:00Z', 2), "
                + "('new', 'N', 'key', '2024-01-01T00:00:00Z', 0)")
        let store = try SQLiteHubStore(path: path)
        #expect(
            try old.query("SELECT site_id, sent_version FROM _fieldsync_sites ORDER BY site_id")
                == [[.text("new"), .integer(0)], [.text("sent"), .integer(7)]])
        for (table, columns) in added {
            let present = try old.query("SELECT name FROM pragma_table_info('\(table)')").compactMap(\.first)
            for column in columns { #expect(present.contains(.text(column)), "\(table).\(column)") }
        }
        #expect(try store.conflicts(ConflictFilter()).isEmpty)
        #expect(try store.rejectedRows(site: nil, table: nil, includeApplied: true).isEmpty)
    }
}
