import FieldSyncCore
import FieldSyncTesting
import Testing

@testable import FieldSyncBundle

/// Only the named recipient can open a bundle, only the signer's key verifies it, and the sender inside must be
/// the signer.
@Suite struct AuthenticityTests {
    static let note = try! TableSchema(
        name: "samples", columns: [Column(name: "id", type: .integer), Column(name: "note", type: .text)],
        primaryKey: ["id"])

    static func change(_ sequence: Int64) -> TableChange {
        TableChange(
            table: "samples",
            change: Change(
                operation: .insert, origin: "site-a", originSequence: sequence,
                values: [.integer(sequence), .text("row \(sequence)")]))
    }

    /// A normal bundle from `keys.site` to `keys.hub`.
    static func bundle(_ keys: KeyFixtures, in directory: TemporaryDirectory, sender: NodeKeys? = nil) throws
        -> [String]
    {
        try BundleFixtures.write(
            (1...3).map(change), tables: [note],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
            sender: sender ?? keys.site, recipient: keys.hub.identity
        ).paths
    }

    // MARK: - Recipient

    enum OtherRecipient: String, CaseIterable, Sendable {
        /// Another node altogether.
        case otherNode
        /// The sender itself: a stolen site cannot reopen what it sent.
        case sender
        /// The recipient's id and epoch, but different keys.
        case sameIDOtherKeys
        /// The recipient's id with another key epoch.
        case sameIDOtherEpoch
    }

    @Test(arguments: OtherRecipient.allCases)
    func aBundleForAnotherRecipientIsRefused(_ other: OtherRecipient) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try Self.bundle(keys, in: directory)
        let opener: NodeKeys =
            switch other {
            case .otherNode: keys.otherSite
            case .sender: keys.site
            case .sameIDOtherKeys: try KeyFixtures.impostor(of: keys.hub)
            case .sameIDOtherEpoch: try NodeKeys.generate(id: "hub", epoch: 2)
            }
        let reader = try BundleReader(paths: paths)
        try reader.verify(sender: keys.site.identity)
        let error = #expect(throws: BundleError.self) { _ = try reader.open(recipient: opener) }
        #expect(error?.code == .wrongRecipient)
        #expect(error?.path == paths[0])
    }

    // MARK: - Signer

    @Test func aBundleFromAnImpostorWithTheSendersIDIsRefused() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let impostor = try KeyFixtures.impostor(of: keys.site)
        let paths = try Self.bundle(keys, in: directory, sender: impostor)
        let reader = try BundleReader(paths: paths)
        #expect(reader.header.sender == "site-a")
        let error = #expect(throws: BundleError.self) { try reader.verify(sender: keys.site.identity) }
        #expect(error?.code == .badSignature)
    }

    @Test func aHeaderResignedByAnotherKeyIsRefused() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try Self.bundle(keys, in: directory)
        var image = try BundleImage(paths: paths)
        // Same bytes, signature by a second key pair made with the same id and epoch.
        try image.resign(part: 0, signer: try KeyFixtures.impostor(of: keys.site))
        try image.write()
        let error = #expect(throws: BundleError.self) {
            try BundleReader(paths: paths).verify(sender: keys.site.identity)
        }
        #expect(error?.code == .badSignature)

        // A header edited to point elsewhere and re-signed by the impostor: still refused.
        try image.editHeader { $0.sequence = 999 }
        try image.resign(part: 0, signer: try KeyFixtures.impostor(of: keys.site))
        try image.write()
        let edited = #expect(throws: BundleError.self) {
            try BundleReader(paths: paths).verify(sender: keys.site.identity)
        }
        #expect(edited?.code == .badSignature)
    }

    @Test func aSignatureByTheRightKeyOverEditedBytesIsAccepted() throws {
        // The control for the test above: the same edit signed by the real sender verifies, so what the
        // refusal detects is the key, not the edit.
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try Self.bundle(keys, in: directory)
        var image = try BundleImage(paths: paths)
        try image.editHeader { $0.sequence = 999 }
        try image.resign(part: 0, signer: keys.site)
        try image.write()
        let reader = try BundleReader(paths: paths)
        try reader.verify(sender: keys.site.identity)
        #expect(reader.header.sequence == 999)
    }

    @Test func verifyingWithAnotherNodesKeyIsRefusedAsUnknownSender() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try Self.bundle(keys, in: directory)
        let error = #expect(throws: BundleError.self) {
            try BundleReader(paths: paths).verify(sender: keys.otherSite.identity)
        }
        #expect(error?.code == .unknownSender)
        #expect(error?.message.contains("site-a") == true && error?.message.contains("site-b") == true)
    }

    @Test func aKeyOfAnotherEpochIsRefused() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let rotated = try NodeKeys.generate(id: "site-a", epoch: 2)
        let paths = try Self.bundle(keys, in: directory, sender: rotated)
        for known in [keys.site.identity, try NodeKeys.generate(id: "site-a", epoch: 3).identity] {
            let error = #expect(throws: BundleError.self) { try BundleReader(paths: paths).verify(sender: known) }
            #expect(error?.code == .keyEpoch)
            #expect(error?.message.contains("epoch 2") == true)
        }
        try BundleReader(paths: paths).verify(sender: rotated.identity)
    }

    // MARK: - Sender inside the payload

    @Test func aManifestNamingAnotherSenderIsRefused() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            let manifest = CraftedBundle.manifest(for: header, sender: "site-b")
            return [
                ("manifest.json", try CraftedBundle.json(manifest)),
                ("batches.json", try CraftedBundle.json(BatchIndex(batches: [], rows: 0))),
            ]
        }
        let reader = try BundleReader(paths: paths)
        try reader.verify(sender: keys.site.identity)
        let error = #expect(throws: BundleError.self) { _ = try reader.open(recipient: keys.hub) }
        #expect(error?.code == .senderMismatch)
        #expect(error?.message.contains("site-b") == true)
    }

    struct ManifestLie: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var edit: @Sendable (BundleHeader) -> BundleManifest
    }

    @Test(arguments: [
        ManifestLie(testDescription: "another bundle id") {
            CraftedBundle.manifest(for: $0, bundleID: "00000000-0000-0000-0000-000000000000")
        },
        ManifestLie(testDescription: "another kind") { CraftedBundle.manifest(for: $0, kind: .snapshot) },
        ManifestLie(testDescription: "another recipient") { CraftedBundle.manifest(for: $0, recipient: "site-b") },
    ])
    func aManifestThatDisagreesWithTheSignedHeaderIsRefused(_ lie: ManifestLie) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            [
                ("manifest.json", try CraftedBundle.json(lie.edit(header))),
                ("batches.json", try CraftedBundle.json(BatchIndex(batches: [], rows: 0))),
            ]
        }
        let result = outcome {
            try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub)
        }
        #expect(result.code == .senderMismatch, "\(result)")
    }

    @Test func aCraftedPayloadThatIsWellFormedReads() throws {
        // The control for the crafted tests: the hand-built envelope and payload are accepted when honest.
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let changes = (1...3).map(Self.change)
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            let batch = try CraftedBundle.batch(changes.map(\.change))
            let index = BatchIndex(
                batches: [
                    BatchInfo(entry: "batches/000001.samples.tsv", table: "samples", rows: 3, bytes: batch.count)
                ],
                rows: 3)
            return [
                ("manifest.json", try CraftedBundle.json(CraftedBundle.manifest(for: header))),
                ("batches/000001.samples.tsv", batch), ("batches.json", try CraftedBundle.json(index)),
            ]
        }
        let read = try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub).changes
        #expect(BundleFixtures.identical(read, changes))
    }
}
