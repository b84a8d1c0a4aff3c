import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// A name a signed sender writes into its manifest is quoted in a refusal's message (which the hub prints and
/// keeps in its log) short and without control characters, however long it is and whatever it holds.
@Suite struct EchoedNameTests {
    static func refusal(manifestEdit: (String) -> String) throws -> String {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            let manifest = String(decoding: try CraftedBundle.json(CraftedBundle.manifest(for: header)), as: UTF8.self)
            return [("manifest.json", Array(manifestEdit(manifest).utf8))]
        }
        let result = outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
        return try #require(result.error).message
    }

    static let hostile = "\\u001b]0;owned\\u0007\\n2026-12-04 ok applied" + String(repeating: "x", count: 1_000_000)

    static func isShort(_ message: String) -> Bool {
        message.utf8.count < 1000 && !message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }
    }

    @Test func aHostileTableNameIsQuotedShortAndPrintable() throws {
        let message = try Self.refusal {
            $0.replacingOccurrences(of: "\"name\":\"samples\"", with: "\"name\":\"\(Self.hostile)\"")
        }
        #expect(Self.isShort(message), "\(message.prefix(200))")
    }

    @Test func aHostileColumnNameIsQuotedShortAndPrintable() throws {
        let message = try Self.refusal {
            $0.replacingOccurrences(of: "\"name\":\"note\"", with: "\"name\":\"\(Self.hostile)\"")
        }
        #expect(Self.isShort(message), "\(message.prefix(200))")
    }

    @Test func aHostileEncodingIsQuotedShortAndPrintable() throws {
        let message = try Self.refusal {
            $0.replacingOccurrences(
                of: "\"encoding\":\"\(BundleManifest.encodingName)\"", with: "\"encoding\":\"\(Self.hostile)\"")
        }
        #expect(Self.isShort(message), "\(message.prefix(200))")
    }

    @Test func aHostileUnknownKeyIsQuotedShortAndPrintable() throws {
        let message = try Self.refusal { "{\"\(Self.hostile)\":1," + $0.dropFirst() }
        #expect(Self.isShort(message), "\(message.prefix(200))")
    }
}
