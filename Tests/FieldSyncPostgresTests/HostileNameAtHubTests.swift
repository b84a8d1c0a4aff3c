import FieldSyncBundle
import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

/// A registered site's signed bundle whose manifest names a table with a megabyte of text and terminal escape
/// sequences is refused, and the hub's log keeps (and `status` shows) a short, printable reason, on both stores.
@Suite struct HostileNameAtHubTests {
    @Test(arguments: HubStoreKind.available)
    func aHostileTableNameLeavesAShortPrintableRefusal(_ kind: HubStoreKind) throws {
        let world = try SyncWorld(sites: ["site-a"], hub: kind, schema: HubIngestHardeningTests.people)
        let hostile = "\\u001b]0;owned\\u0007\\nok" + String(repeating: "x", count: 1_000_000)
        let columns = "[\"op\",\"version\",\"origin\",\"origin_seq\",\"base_version\",\"changed\",\"changed_at\"]"
        let manifest =
            "{\"format\":\"fieldsync-manifest\",\"version\":1,\"bundle_id\":\"\(BundleFuzzing.bundleID)\","
            + "\"kind\":\"delta\",\"sender\":\"site-a\",\"recipient\":\"hub\",\"encoding\":\"copy-text-1\","
            + "\"change_columns\":\(columns),\"properties\":{},\"tables\":[{\"name\":\"\(hostile)\","
            + "\"columns\":[{\"name\":\"id\",\"type\":\"text\",\"nullable\":false}],\"primary_key\":[\"id\"]}]}"
        var payload: [UInt8] = []
        let builder = try ArchiveBuilder { payload.append(contentsOf: $0) }
        try builder.addFile("manifest.json", text: manifest)
        try builder.finish()
        let directory = try TemporaryDirectory()
        let path = try BundleFuzzing.seal(
            payload: payload, sender: world.site("site-a").keys, recipient: world.hubKeys.identity,
            directory: directory.path)
        #expect(throws: BundleError.self) { _ = try world.deliverToHub([path]) }
        let refusal = try #require(try world.hubStore.lastRefusals().first)
        #expect(refusal.reason.contains("table name"), "\(refusal.reason.prefix(200))")
        #expect(refusal.reason.utf8.count < 1000)
        #expect(!refusal.reason.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f })
    }
}
