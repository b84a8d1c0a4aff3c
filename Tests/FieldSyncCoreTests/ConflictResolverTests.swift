import FieldSyncCore
import Testing

/// The conflict strategies as pure decisions: what each one writes for a conflicting change.
@Suite struct ConflictResolverTests {
    let schema = try! TableSchema(
        name: "people",
        columns: [
            Column(name: "id", type: .text), Column(name: "name", type: .text), Column(name: "phone", type: .text),
            Column(name: "notes", type: .text),
        ], primaryKey: ["id"])

    func hub(_ name: String, _ phone: String, _ notes: String, modifiedAt: Double = 1000) -> HubRowState {
        HubRowState(
            values: [.text("p1"), .text(name), .text(phone), .text(notes)], version: 7, origin: nil, deleted: false,
            modifiedAt: modifiedAt)
    }

    func change(_ name: String, _ phone: String, _ notes: String, changed: [Int]? = nil) -> Change {
        Change(
            operation: .update, origin: "site-a", originSequence: 3, baseVersion: 5,
            changedColumns: changed.map { ColumnSet($0) },
            values: [.text("p1"), .text(name), .text(phone), .text(notes)])
    }

    let base: [Value] = [.text("p1"), .text("Amina"), .text("0700"), .text("")]

    func rule(_ strategy: ConflictStrategy, fallback: ConflictStrategy = .serverWins, merge: [String]? = nil)
        -> ConflictRule
    {
        ConflictRule(table: "people", strategy: strategy, fallback: fallback, mergeFields: merge)
    }

    @Test func serverWinsKeepsTheHubRow() {
        let verdict = ConflictResolver.settle(
            change("Amina", "0711", ""), hub: hub("Amina K", "0700", ""), schema: schema, rule: rule(.serverWins),
            base: nil, editTime: 2000)
        #expect(verdict.decision == .hubKept && verdict.write == nil)
    }

    @Test func clientWinsWritesTheSiteRow() {
        let incoming = change("Amina", "0711", "")
        let verdict = ConflictResolver.settle(
            incoming, hub: hub("Amina K", "0700", ""), schema: schema, rule: rule(.clientWins), base: nil,
            editTime: 0)
        #expect(verdict.decision == .siteApplied && verdict.write == incoming)
    }

    @Test func lastWriteWinsComparesEditTimesAndATieKeepsTheHub() {
        let incoming = change("Amina", "0711", "")
        let row = hub("Amina K", "0700", "", modifiedAt: 1000)
        let later = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.lastWriteWins), base: nil, editTime: 1001)
        #expect(later.decision == .siteApplied)
        let earlier = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.lastWriteWins), base: nil, editTime: 999)
        #expect(earlier.decision == .hubKept)
        let tie = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.lastWriteWins), base: nil, editTime: 1000)
        #expect(tie.decision == .hubKept)
    }

    @Test func manualWaits() {
        let verdict = ConflictResolver.settle(
            change("Amina", "0711", ""), hub: hub("Amina K", "0700", ""), schema: schema, rule: rule(.manual),
            base: nil, editTime: 0)
        #expect(verdict.decision == .pending && verdict.write == nil)
    }

    @Test func fieldMergeTakesDisjointColumnsFromBothSides() {
        // The site changed the phone, the hub changed the name: both survive.
        let verdict = ConflictResolver.settle(
            change("Amina", "0711", "", changed: [2]), hub: hub("Amina K", "0700", ""), schema: schema,
            rule: rule(.fieldMerge), base: base, editTime: 0)
        #expect(verdict.decision == .merged)
        #expect(verdict.contested.isEmpty)
        #expect(verdict.write?.values == [.text("p1"), .text("Amina K"), .text("0711"), .text("")])
        #expect(verdict.write?.changedColumns == nil)
    }

    @Test func fieldMergeSettlesOverlappingColumnsByTheFallback() {
        // Both changed the phone differently; the site also changed the notes alone.
        let incoming = change("Amina", "0711", "moved", changed: [2, 3])
        let row = hub("Amina", "0722", "", modifiedAt: 1000)
        let server = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.fieldMerge), base: base, editTime: 2000)
        #expect(server.contested == [2])
        #expect(server.write?.values == [.text("p1"), .text("Amina"), .text("0722"), .text("moved")])
        let client = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.fieldMerge, fallback: .clientWins), base: base,
            editTime: 0)
        #expect(client.write?.values == [.text("p1"), .text("Amina"), .text("0711"), .text("moved")])
        let later = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.fieldMerge, fallback: .lastWriteWins), base: base,
            editTime: 2000)
        #expect(later.write?.values[2] == .text("0711"))
        let manual = ConflictResolver.settle(
            incoming, hub: row, schema: schema, rule: rule(.fieldMerge, fallback: .manual), base: base,
            editTime: 0)
        #expect(manual.decision == .pending && manual.write == nil && manual.contested == [2])
    }

    @Test func fieldMergeLeavesColumnsOutsideTheMergeFieldsToTheFallback() {
        // Only notes may merge; the site's phone change goes to the fallback (server wins) although the hub
        // did not touch the phone.
        let verdict = ConflictResolver.settle(
            change("Amina", "0711", "moved", changed: [2, 3]), hub: hub("Amina K", "0700", ""), schema: schema,
            rule: rule(.fieldMerge, merge: ["notes"]), base: base, editTime: 0)
        #expect(verdict.contested == [2])
        #expect(verdict.write?.values == [.text("p1"), .text("Amina K"), .text("0700"), .text("moved")])
    }

    @Test func fieldMergeWithoutTheBaseOrWithADeleteFallsBackForTheWholeRow() {
        let noBase = ConflictResolver.settle(
            change("Amina", "0711", "", changed: [2]), hub: hub("Amina K", "0700", ""), schema: schema,
            rule: rule(.fieldMerge, fallback: .clientWins), base: nil, editTime: 0)
        #expect(noBase.decision == .siteApplied && !noBase.baseKnown)
        var delete = change("Amina", "0700", "")
        delete.operation = .delete
        let deleted = ConflictResolver.settle(
            delete, hub: hub("Amina K", "0700", ""), schema: schema, rule: rule(.fieldMerge), base: base,
            editTime: 0)
        #expect(deleted.decision == .hubKept)
    }

    @Test func fieldMergeOfTheSameEditOnBothSidesChangesNothing() {
        let verdict = ConflictResolver.settle(
            change("Amina", "0711", "", changed: [2]), hub: hub("Amina", "0711", ""), schema: schema,
            rule: rule(.fieldMerge), base: base, editTime: 0)
        #expect(verdict.decision == .hubKept && verdict.write == nil)
    }

    @Test func rulesAreCheckedAgainstTheTable() throws {
        #expect(throws: StoreError.self) {
            try ConflictRule(table: "people", strategy: .fieldMerge, fallback: .fieldMerge).validated(against: schema)
        }
        #expect(throws: StoreError.self) {
            try ConflictRule(table: "people", strategy: .fieldMerge, mergeFields: ["nope"]).validated(against: schema)
        }
        #expect(throws: StoreError.self) {
            try ConflictRule(table: "people", strategy: .fieldMerge, mergeFields: ["id"]).validated(against: schema)
        }
        #expect(throws: StoreError.self) {
            try ConflictRule(table: "people", strategy: .manual, mergeFields: ["notes"]).validated(against: schema)
        }
        _ = try ConflictRule(table: "people", strategy: .fieldMerge, mergeFields: ["notes"]).validated(against: schema)
    }
}

/// Edit times from a site's clock, brought onto the hub's.
@Suite struct SiteClockTests {
    let received = SiteClock.parse("2026-11-26T10:00:00Z")!
    let tenYears = 10 * 365.25 * 86_400

    @Test func parsesTheFormsStoresWrite() {
        #expect(SiteClock.parse("1970-01-01T00:00:00Z") == 0)
        #expect(SiteClock.parse("2026-11-26T10:00:00.250Z") == received + 0.25)
        #expect(SiteClock.parse("2026-11-26 12:00:00+02") == received)
        #expect(SiteClock.parse("2026-11-26T05:30:00-04:30") == received)
        #expect(SiteClock.parse("2026-11-26T10:00:00.123456+00:00")! - received < 0.124)
        #expect(SiteClock.parse("yesterday") == nil)
        #expect(SiteClock.parse("2026-13-01T00:00:00Z") == nil)
        #expect(SiteClock.parse(SiteClock.format(received + 0.5)) == received + 0.5)
    }

    @Test func aClockWithinToleranceIsTrustedButNeverPastTheReceipt() {
        let clock = SiteClock.assess(
            created: SiteClock.format(received - 60), received: received, notBefore: received - 3600)
        #expect(!clock.isCorrected)
        #expect(clock.editTime(SiteClock.format(received - 120)) == received - 120)
        #expect(clock.editTime(SiteClock.format(received + 200)) == received, "no edit is later than its arrival")
        #expect(clock.editTime(nil) == received)
    }

    @Test func aClockTenYearsAheadIsShiftedBack() {
        let clock = SiteClock.assess(
            created: SiteClock.format(received + tenYears - 30), received: received, notBefore: nil)
        #expect(clock.isCorrected)
        let edit = clock.editTime(SiteClock.format(received + tenYears - 90))
        #expect(abs(edit - (received - 60)) < 0.01, "the edit was made a minute before the bundle was written")
    }

    @Test func aClockTenYearsBehindIsShiftedForward() {
        // The site acknowledged a return bundle the hub wrote an hour ago, so its bundle cannot be older.
        let notBefore = received - 3600
        let clock = SiteClock.assess(
            created: SiteClock.format(received - tenYears), received: received, notBefore: notBefore)
        #expect(clock.isCorrected)
        let edit = clock.editTime(SiteClock.format(received - tenYears - 60))
        #expect(abs(edit - (notBefore - 60)) < 0.01)
    }
}

/// FieldSync's row JSON reads back exactly what it wrote.
@Suite struct RowJSONTests {
    @Test func valuesKeepTheirKind() {
        let values: [Value] = [
            .null, .integer(-42), .integer(Int64.max), .real(1.0), .real(-2.5e-300), .text("quote \" slash \\ é 🌍\n"),
            .blob([0, 255, 16]), .text(""),
        ]
        #expect(Value.arrayFromJSON(Value.jsonArray(values)) == values)
        let nan = Value.fromJSON(Value.real(.nan).jsonText)
        if case .real(let number)? = nan { #expect(number.isNaN) } else { Issue.record("NaN did not come back") }
        #expect(Value.fromJSON("\"\\ud83c\\udf0d\"") == .text("🌍"))
        #expect(Value.fromJSON("[1") == nil)
    }

    @Test func rowsReadBackInColumnOrder() throws {
        let text = RowJSON.encode(
            operation: .update, columns: ["id", "name", "photo"], values: [.integer(1), .text("A"), .blob([1])])
        let row = try #require(RowJSON.decode(text))
        #expect(row.operation == .update)
        #expect(RowJSON.values(row.values, in: ["photo", "id", "missing"]) == [.blob([1]), .integer(1), .null])
        #expect(RowJSON.decode("{\"op\":\"X\",\"values\":{}}") == nil)
    }

    @Test func typedTextParses() throws {
        #expect(try Value.parse("42", as: .integer) == .integer(42))
        #expect(try Value.parse("true", as: .boolean) == .integer(1))
        #expect(try Value.parse("\\x00ff", as: .blob) == .blob([0, 255]))
        #expect(try Value.parse("12.50", as: .numeric) == .text("12.50"))
        #expect(throws: StoreError.self) { try Value.parse("forty", as: .integer) }
        #expect(throws: StoreError.self) { try Value.parse("{", as: .json) }
    }
}
