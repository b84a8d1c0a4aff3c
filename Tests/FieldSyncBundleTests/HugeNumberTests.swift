import FieldSyncCore
import FieldSyncSQLite
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// Numbers in a signed bundle that no store can hold (a sequence of 2^63 or more) are refused by the bundle reader,
/// naming the field, on either hub store and at a site; numbers a store can hold, however extreme, never trap it.
@Suite struct HugeNumberTests {
    static func people(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER)")
    }

    /// Replaces `"sequence":N` in every part's header with `sequence` and re-signs the parts with `signer`.
    static func resign(_ paths: [String], sequence: String, signer: NodeKeys) throws {
        var image = try BundleImage(paths: paths)
        let old = "\"sequence\":\(try image.parts[0].header.sequence)"
        try image.replaceInHeader(old, with: "\"sequence\":\(sequence)")
        for index in image.parts.indices { try image.resign(part: index, signer: signer) }
        try image.write()
    }

    @Test(arguments: HubStoreKind.available)
    func aSiteBundleWithAHugeSequenceIsRefusedByTheHub(_ kind: HubStoreKind) throws {
        for sequence in ["9223372036854775808", "18446744073709551615", "-1", "4.0", "1e300"] {
            let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
            try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
            let paths = try world.exportSite("site-a")
            try Self.resign(paths, sequence: sequence, signer: world.site("site-a").keys)
            let error = #expect(throws: BundleError.self, "\(kind) \(sequence)") { try world.deliverToHub(paths) }
            #expect(error?.code == .notABundle, "\(kind) \(sequence): \(String(describing: error))")
            #expect(error?.message.contains("'sequence'") == true, "\(kind) \(sequence): \(String(describing: error))")
            #expect(try world.hubRows("people").isEmpty, "\(kind): nothing was applied")
            // The site's next, honest bundle still applies.
            try world.exchangeRounds(1)
            #expect(try world.hubRows("people").count == 1, "\(kind) \(sequence)")
        }
    }

    @Test(arguments: HubStoreKind.available)
    func aReturnBundleWithAHugeSequenceIsRefusedByTheSite(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        try world.hubSQL.execute("INSERT INTO people (id, name, age) VALUES ('h1', 'HQ', 50)")
        let paths = try world.exportReturn("site-a")
        try Self.resign(paths, sequence: "9223372036854775808", signer: world.hubKeys)
        let error = #expect(throws: BundleError.self) { try world.deliverToSite("site-a", paths) }
        #expect(error?.code == .notABundle, "\(String(describing: error))")
        #expect(error?.message.contains("'sequence'") == true, "\(String(describing: error))")
        #expect(try world.siteRows("site-a", "people").isEmpty)
    }

    @Test(arguments: HubStoreKind.available)
    func aStoreGivenASequenceAboveItsRangeRefusesItWithoutTrapping(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        for sequence in [UInt64(Int64.max) + 1, UInt64.max] {
            let bundle = IncomingBundle(
                bundleID: UUID().uuidString.lowercased(), site: "site-a", sequence: sequence, prerequisites: [:],
                properties: [:], source: "memory", nextBatch: { nil })
            let error = #expect(throws: StoreError.self, "\(kind) \(sequence)") { try world.hubStore.ingest(bundle) }
            #expect(error?.message.contains("\(sequence)") == true, "\(kind): \(String(describing: error))")
        }
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        try world.exchangeRounds(1)
        #expect(try world.hubRows("people").count == 1)
    }

    @Test(arguments: HubStoreKind.available)
    func extremeButValidNumbersInASignedSiteBundleNeverTrapTheHubOrTheSite(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: Self.people)
        let schema = try TableSchema(
            name: "people",
            columns: [
                Column(name: "id", type: .text, nullable: false), Column(name: "name", type: .text),
                Column(name: "age", type: .integer),
            ],
            primaryKey: ["id"])
        let extremes: [Int64] = [Int64.max, Int64.min, -1, 0]
        var changes: [TableChange] = []
        for (index, number) in extremes.enumerated() {
            changes.append(
                TableChange(
                    table: "people",
                    change: Change(
                        operation: .insert, origin: "site-a", originSequence: number, baseVersion: extremes[3 - index],
                        version: number, values: [.text("x\(index)"), .text("n"), .integer(number)])))
        }
        for (sequence, prerequisite) in [(UInt64(Int64.max), Int64.max), (UInt64(Int64.max), Int64.min)] {
            let directory = try TemporaryDirectory()
            let written = try BundleFixtures.write(
                changes, tables: [schema],
                configuration: .init(
                    kind: .delta, sequence: sequence,
                    prerequisites: ["hub_version": prerequisite, "acknowledged_return": prerequisite],
                    properties: ["changes_through": String(Int64.max)], directory: directory.path),
                sender: world.site("site-a").keys, recipient: world.hubKeys.identity)
            // Applied, or refused with an error: either way the process is still here.
            _ = try? world.deliverToHub(written.paths)
            let returned = try? world.exportReturn("site-a")
            if let returned { _ = try? world.deliverToSite("site-a", returned) }
        }
        // The site's own next exchange still works.
        try world.site("site-a").database.execute("INSERT INTO people VALUES ('p1', 'Amina', 31)")
        _ = try? world.exchangeRounds(1)
    }
}

/// The writer refuses the numbers readers refuse, and a part size limit from a configuration file of any value
/// is refused or used, never trapped on.
@Suite struct WriterNumberTests {
    @Test(arguments: [Int64.min, -1, 0, 2000])
    func aPartSizeLimitTooSmallIsRefusedWhateverItIs(_ limit: Int64) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let error = #expect(throws: BundleError.self) {
            _ = try BundleWriter(
                configuration: .init(kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: limit),
                tables: [], sender: keys.site, recipient: keys.hub.identity)
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func theLargestPartSizeLimitWrites() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 2, blobSize: 100, seed: 3)
        let written = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: Int64.max),
            sender: keys.site, recipient: keys.hub.identity)
        try BundleFixtures.readAll(written.paths, sender: keys.site.identity, recipient: keys.hub)
    }

    @Test(arguments: [UInt64(0), UInt64(Int64.max) + 1, UInt64.max])
    func aSequenceReadersWouldRefuseIsNotWritten(_ sequence: UInt64) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let error = #expect(throws: BundleError.self) {
            _ = try BundleWriter(
                configuration: .init(kind: .delta, sequence: sequence, directory: directory.path),
                tables: [], sender: keys.site, recipient: keys.hub.identity)
        }
        #expect(error?.code == .invalidArgument)
        #expect(try directory.contents().isEmpty)
    }
}
