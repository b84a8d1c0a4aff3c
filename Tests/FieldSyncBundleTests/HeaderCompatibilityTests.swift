import FieldSyncCore
import FieldSyncTesting
import Testing

@testable import FieldSyncBundle

/// A bundle from a newer FieldSync (newer format version, or a capability this one lacks) is refused with a
/// message that says to upgrade, even when it is correctly signed.
@Suite struct HeaderCompatibilityTests {
    struct Fixture {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let paths: [String]
        var image: BundleImage

        init(parts: Bool = false) throws {
            keys = try KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: parts ? 40 : 2, blobSize: 1000, seed: 4)
            paths = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(
                    kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: parts ? 20_000 : 4_000_000_000),
                sender: keys.site, recipient: keys.hub.identity
            ).paths
            image = try BundleImage(paths: paths)
        }

        /// Re-signs every part as the sender, writes them, and opens the bundle.
        mutating func resignAndOpen() throws -> Outcome {
            try image.reseal(signer: keys.site)
            try image.write()
            return outcome { _ = try BundleReader(paths: paths) }
        }
    }

    @Test func anUnknownRequiredCapabilityIsRefused() throws {
        var fixture = try Fixture()
        // Same length, so only the meaning changes.
        try fixture.image.replaceInHeader("\"payload-tar-zstd\"", with: "\"payload-tar-zzzz\"")
        let result = try fixture.resignAndOpen()
        #expect(result.code == .unknownCapability, "\(result)")
        let message = try #require(result.error?.message)
        #expect(message.contains("'payload-tar-zzzz'"))
        #expect(message.contains("upgrade FieldSync"))
        #expect(result.error?.path == fixture.paths[0])
    }

    @Test func anExtraUnknownCapabilityIsRefusedInEveryPart() throws {
        var fixture = try Fixture(parts: true)
        #expect(fixture.paths.count > 1)
        try fixture.image.editHeader { $0.requires.append("zstd-dictionary-2") }
        let result = try fixture.resignAndOpen()
        #expect(result.code == .unknownCapability, "\(result)")
        #expect(result.error?.message.contains("'zstd-dictionary-2'") == true)
        // Whichever part is given first.
        for path in fixture.paths {
            let code = outcome { _ = try BundleReader(paths: [path]) }.code
            #expect(code == .unknownCapability)
        }
    }

    @Test(arguments: [2, 3, 1000])
    func aNewerFormatVersionIsRefused(_ version: Int) throws {
        var fixture = try Fixture()
        try fixture.image.editHeader { $0.version = version }
        let result = try fixture.resignAndOpen()
        #expect(result.code == .unsupportedVersion, "\(result)")
        let message = try #require(result.error?.message)
        #expect(message.contains("version \(version)"))
        #expect(message.contains("upgrade FieldSync"))
    }

    @Test func aNewerVersionIsRefusedEvenWithFieldsThisVersionDoesNotKnow() throws {
        // A version 2 header may have dropped or renamed version 1 fields; the refusal must still say "newer".
        var fixture = try Fixture()
        try fixture.image.replaceInHeader("\"version\":1", with: "\"version\":2")
        try fixture.image.replaceInHeader("\"chunk_size\":", with: "\"chunk_bytes\":")
        let result = try fixture.resignAndOpen()
        #expect(result.code == .unsupportedVersion, "\(result)")
    }

    @Test func anotherFormatOrAnInvalidVersionIsNotABundle() throws {
        for edit: (inout BundleHeader) -> Void in [
            { $0.format = "other-bundle" }, { $0.version = 0 }, { $0.version = -1 },
        ] {
            var fixture = try Fixture()
            try fixture.image.editHeader(edit)
            let result = try fixture.resignAndOpen()
            #expect(result.code == .notABundle, "\(result)")
        }
    }

    /// The format and capabilities are read before the signature is checked, so anyone can write them: a refusal
    /// quotes them short and without control characters (the hub keeps it in its log and prints it).
    @Test func anUnsignedHostileFormatOrCapabilityIsQuotedShortAndPrintable() throws {
        let hostile = "\u{1b}]0;owned\u{07}\n" + String(repeating: "x", count: 30_000)
        for edit: (inout BundleHeader) -> Void in [{ $0.format = hostile }, { $0.requires.append(hostile) }] {
            var fixture = try Fixture()
            try fixture.image.editHeader(edit)
            try fixture.image.write()
            let result = outcome { _ = try BundleReader(paths: fixture.paths) }
            let message = try #require(result.error).message
            #expect(message.utf8.count < 1000)
            #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "\(message.prefix(80))")
        }
    }

    @Test func anEditedHeaderThatIsNotResignedIsRefused() throws {
        var fixture = try Fixture()
        try fixture.image.editHeader { $0.requires.append("something-new") }
        try fixture.image.write()
        let result = outcome {
            try BundleReader(paths: fixture.paths).verify(sender: fixture.keys.site.identity)
        }
        #expect(result.code == .unknownCapability || result.code == .badSignature, "\(result)")
    }

    @Test func aResignedHeaderWithKnownCapabilitiesInAnotherOrderReads() throws {
        // The control: the re-signing itself is not what the tests above detect.
        var fixture = try Fixture()
        try fixture.image.editHeader { $0.requires.reverse() }
        try fixture.image.reseal(signer: fixture.keys.site)
        try fixture.image.write()
        try BundleFixtures.readAll(fixture.paths, sender: fixture.keys.site.identity, recipient: fixture.keys.hub)
    }
}
