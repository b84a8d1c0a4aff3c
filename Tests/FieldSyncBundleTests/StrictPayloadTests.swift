import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// Inside the encryption, too, the reader accepts exactly what the format allows: a manifest and index without
/// unknown or repeated keys, a tar of plain ustar regular files in one zstd frame with nothing after its end, a
/// secretstream of MESSAGE chunks and one FINAL, batch lines without a raw CR. A signed sender cannot make two
/// readers see different contents.
@Suite struct StrictPayloadTests {
    static let changes = [
        Change(operation: .insert, origin: "site-a", originSequence: 1, values: [.integer(1), .text("one")]),
        Change(operation: .insert, origin: "site-a", originSequence: 2, values: [.integer(2), .text("two\r")]),
    ]

    static func manifest(_ header: BundleHeader) throws -> [UInt8] {
        try CraftedBundle.json(CraftedBundle.manifest(for: header))
    }

    static func index(_ batches: [BatchInfo]) throws -> [UInt8] {
        try CraftedBundle.json(BatchIndex(batches: batches, rows: batches.reduce(0) { $0 + $1.rows }))
    }

    /// Seals the compressed payload `build` returns (given the header) and reads the bundle to its end.
    static func readRaw(_ build: (BundleHeader) throws -> [UInt8]) throws -> Outcome {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.seal(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header, sink in
            let bytes = try build(header)
            try bytes.withUnsafeBytes { try sink($0) }
        }
        return outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
    }

    /// A tar holding the manifest, one batch and the index, with `edit` applied before the end marker.
    static func tar(_ header: BundleHeader, end: Bool = true, edit: (inout RawTar) throws -> Void = { _ in })
        throws -> RawTar
    {
        let batch = try CraftedBundle.batch([changes[0]])
        var tar = RawTar()
        tar.addFile("manifest.json", try manifest(header))
        tar.addFile(HostilePayload.batchName(1), batch)
        tar.addFile(
            "batches.json",
            try index([BatchInfo(entry: HostilePayload.batchName(1), table: "samples", rows: 1, bytes: batch.count)]))
        try edit(&tar)
        if end { tar.end() }
        return tar
    }

    // MARK: - Archive

    @Test func aPlainUstarArchiveInOneFrameReads() throws {
        let result = try Self.readRaw { RawTar.zstd(try Self.tar($0).bytes) }
        #expect(result.code == nil, "\(result)")
    }

    static let foreignRecords: [(String, String, @Sendable (inout RawTar) -> Void)] = [
        (
            "pax global header", "pax global header",
            { (tar: inout RawTar) in
                tar.addPax("pax_global_header", global: true, records: [("path", "manifest.json")])
            }
        ),
        (
            "pax extended header", "pax extended header",
            { (tar: inout RawTar) in
                tar.addPax("PaxHeader/manifest.json", global: false, records: [("path", "batches.json")])
            }
        ),
        (
            "GNU long name", "GNU long-name record",
            { (tar: inout RawTar) in
                tar.add("././@LongLink", typeflag: "L", data: Array("manifest.json\0".utf8))
            }
        ),
        (
            "GNU long link", "GNU long-link record",
            { (tar: inout RawTar) in
                tar.add("././@LongLink", typeflag: "K", data: Array("/etc/passwd\0".utf8))
            }
        ),
        (
            "GNU magic", "POSIX ustar",
            { (tar: inout RawTar) in
                tar.add("manifest.json", data: Array("{}".utf8), magic: RawTar.gnuMagic)
            }
        ),
        ("directory", "not a regular file", { (tar: inout RawTar) in tar.add("batches", typeflag: "5") }),
        ("symbolic link", "is a link", { (tar: inout RawTar) in tar.add("manifest.json", typeflag: "2") }),
        ("contiguous file", "not a regular file", { (tar: inout RawTar) in tar.add("manifest.json", typeflag: "7") }),
    ]

    @Test(arguments: 0..<foreignRecords.count)
    func aTarRecordFieldSyncDoesNotWriteIsRefusedBeforeTheManifest(_ index: Int) throws {
        let (what, fragment, record) = Self.foreignRecords[index]
        let result = try Self.readRaw { header in
            var tar = RawTar()
            record(&tar)
            let rest = try Self.tar(header)
            return RawTar.zstd(tar.bytes + rest.bytes)
        }
        #expect(result.code == .unsafeArchive, "\(what): \(result)")
        #expect(result.error?.message.contains(fragment) == true, "\(what): \(result)")
    }

    @Test func aGNULongNameNeverOverridesTheHeadersName() throws {
        // A reader that honours the L record would read the batch as 'manifest.json'; FieldSync refuses the record.
        let result = try Self.readRaw { header in
            var tar = RawTar()
            tar.addFile("manifest.json", try Self.manifest(header))
            tar.add("././@LongLink", typeflag: "L", data: Array("batches.json\0".utf8))
            tar.addFile(HostilePayload.batchName(1), try CraftedBundle.batch([Self.changes[0]]))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(result.code == .unsafeArchive, "\(result)")
    }

    @Test(arguments: [
        ("a zero block", [UInt8](repeating: 0, count: 512)),
        ("record padding to 10240 bytes", [UInt8](repeating: 0, count: 10240 - 2560)),
        ("one zero byte", [0]),
        ("text", Array("hidden".utf8)),
    ])
    func bytesAfterTheTarEndMarkerAreRefused(_ what: String, _ extra: [UInt8]) throws {
        let result = try Self.readRaw { RawTar.zstd(try Self.tar($0).bytes + extra) }
        #expect(result.code == .trailingData, "\(what): \(result)")
    }

    @Test func anEntryAfterTheEndMarkerIsRefused() throws {
        let result = try Self.readRaw { header in
            var tar = try Self.tar(header)
            tar.addFile("notes.txt", Array("a second archive".utf8))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(result.code == .trailingData, "\(result)")
    }

    @Test func aSecondZstdFrameOrStrayBytesAfterTheFrameAreRefused() throws {
        let second = try Self.readRaw { header in
            RawTar.zstd(try Self.tar(header).bytes) + RawTar.zstd([UInt8](repeating: 0, count: 1024))
        }
        #expect(second.code == .trailingData, "\(second)")
        #expect(second.error?.message.contains("zstd frame") == true, "\(second)")
        let stray = try Self.readRaw { RawTar.zstd(try Self.tar($0).bytes) + [0x42] }
        #expect(stray.code == .trailingData, "\(stray)")
        let skippableAfter = try Self.readRaw { RawTar.zstd(try Self.tar($0).bytes) + RawTar.skippableFrame([1, 2]) }
        #expect(skippableAfter.code == .trailingData, "\(skippableAfter)")
    }

    @Test func aSkippableFrameBeforeThePayloadIsRefused() throws {
        let result = try Self.readRaw { RawTar.skippableFrame([1, 2, 3]) + RawTar.zstd(try Self.tar($0).bytes) }
        #expect(result.code == .archive || result.code == .malformedManifest, "\(result)")
        #expect(result.code != nil)
    }

    @Test func aBrokenTarIsRefused() throws {
        let checksum = try Self.readRaw { header in
            var tar = RawTar()
            tar.add("manifest.json", data: try Self.manifest(header), checksumError: 1)
            return RawTar.zstd(tar.bytes)
        }
        #expect(checksum.code == .archive, "\(checksum)")
        let padding = try Self.readRaw { header in
            var tar = RawTar()
            tar.add("manifest.json", data: try Self.manifest(header), paddingByte: 0x41)
            tar.addFile("batches.json", try Self.index([]))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(padding.code == .archive, "\(padding)")
        let oneZeroBlock = try Self.readRaw { header in
            let tar = try Self.tar(header, end: false)
            return RawTar.zstd(tar.bytes + [UInt8](repeating: 0, count: 512))
        }
        #expect(oneZeroBlock.code == .archive, "\(oneZeroBlock)")
        let noEnd = try Self.readRaw { RawTar.zstd(try Self.tar($0, end: false).bytes) }
        #expect(noEnd.code == .archive, "\(noEnd)")
        let notZstd = try Self.readRaw { try Self.tar($0).bytes }
        #expect(notZstd.code == .archive, "\(notZstd)")
    }

    // MARK: - Manifest and index

    static let manifestEdits: [(String, @Sendable (String) -> String)] = [
        (
            "a key twice",
            { (text: String) in
                text.replacingOccurrences(of: "\"kind\":\"delta\"", with: "\"kind\":\"delta\",\"kind\":\"snapshot\"")
            }
        ),
        (
            "an unknown key",
            { (text: String) in text.replacingOccurrences(of: "{\"bundle_id\"", with: "{\"x\":1,\"bundle_id\"") }
        ),
        (
            "an unknown key in a table",
            { (text: String) in
                text.replacingOccurrences(of: "\"primary_key\"", with: "\"indexes\":[],\"primary_key\"")
            }
        ),
        (
            "an unknown key in a column",
            { (text: String) in
                text.replacingOccurrences(of: "\"nullable\"", with: "\"default\":null,\"nullable\"")
            }
        ),
        (
            "1.0 for the version",
            { (text: String) in text.replacingOccurrences(of: "\"version\":1", with: "\"version\":1.0") }
        ),
        ("a byte-order mark", { (text: String) in "\u{FEFF}" + text }),
        (
            "a property twice",
            { (text: String) in
                text.replacingOccurrences(of: "\"properties\":{}", with: "\"properties\":{\"a\":\"1\",\"a\":\"2\"}")
            }
        ),
    ]

    @Test(arguments: 0..<manifestEdits.count)
    func aManifestWithAKeyTwiceOrAnUnknownKeyIsRefused(_ index: Int) throws {
        let (what, edit) = Self.manifestEdits[index]
        let result = try Self.readRaw { header in
            let text = String(decoding: try Self.manifest(header), as: UTF8.self)
            let edited = edit(text)
            #expect(edited != text, "\(what)")
            var tar = RawTar()
            tar.addFile("manifest.json", Array(edited.utf8))
            tar.addFile("batches.json", try Self.index([]))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(result.code == .malformedManifest, "\(what): \(result)")
    }

    @Test(arguments: [
        ("an unknown key", "{\"batches\":[],\"rows\":0,\"checksum\":\"x\"}"),
        ("a key twice", "{\"batches\":[],\"rows\":0,\"rows\":0}"),
        ("0.0 rows", "{\"batches\":[],\"rows\":0.0}"),
        ("a huge row count", "{\"batches\":[],\"rows\":99999999999999999999}"),
    ])
    func aBatchIndexWithAnUnknownKeyOrALenientNumberIsRefused(_ what: String, _ text: String) throws {
        let result = try Self.readRaw { header in
            var tar = RawTar()
            tar.addFile("manifest.json", try Self.manifest(header))
            tar.addFile("batches.json", Array(text.utf8))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(result.code == .malformedManifest, "\(what): \(result)")
    }

    @Test func aBatchIndexRangeWhoseMinimumExceedsItsMaximumIsRefused() throws {
        let result = try Self.readRaw { header in
            let batch = try CraftedBundle.batch([Self.changes[0]])
            var info = BatchInfo(entry: HostilePayload.batchName(1), table: "samples", rows: 1, bytes: batch.count)
            info.originSequence = PositionRange(min: 5, max: 1)
            var tar = RawTar()
            tar.addFile("manifest.json", try Self.manifest(header))
            tar.addFile(HostilePayload.batchName(1), batch)
            tar.addFile("batches.json", try Self.index([info]))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(result.code == .malformedManifest, "\(result)")
    }

    // MARK: - Batches

    @Test func aRawCarriageReturnInABatchIsRefusedAndAnEscapedOneReads() throws {
        // The encoder escapes CR inside values: this is what the writer sends.
        let escaped = try CraftedBundle.batch(Self.changes)
        #expect(!escaped.contains(13))
        let good = try Self.readRaw { header in
            var tar = RawTar()
            tar.addFile("manifest.json", try Self.manifest(header))
            tar.addFile(HostilePayload.batchName(1), escaped)
            tar.addFile(
                "batches.json",
                try Self.index([
                    BatchInfo(entry: HostilePayload.batchName(1), table: "samples", rows: 2, bytes: escaped.count)
                ]))
            tar.end()
            return RawTar.zstd(tar.bytes)
        }
        #expect(good.code == nil, "\(good)")
        let text = String(decoding: escaped, as: UTF8.self)
        for (what, raw) in [
            ("a CR inside a value", text.replacingOccurrences(of: "two\\r", with: "tw\ro")),
            ("CR LF line ends", text.replacingOccurrences(of: "\n", with: "\r\n")),
        ] {
            let bytes = Array(raw.utf8)
            let result = try Self.readRaw { header in
                var tar = RawTar()
                tar.addFile("manifest.json", try Self.manifest(header))
                tar.addFile(HostilePayload.batchName(1), bytes)
                tar.addFile(
                    "batches.json",
                    try Self.index([
                        BatchInfo(entry: HostilePayload.batchName(1), table: "samples", rows: 2, bytes: bytes.count)
                    ]))
                tar.end()
                return RawTar.zstd(tar.bytes)
            }
            #expect(result.code == .malformedBatch, "\(what): \(result)")
            #expect(result.error?.message.contains("carriage return") == true, "\(what): \(result)")
        }
    }

    @Test func aHugeChangedColumnSetIsRefusedWithoutBuildingIt() throws {
        let schema = CraftedBundle.samples
        // 4 MiB of 'ff' names 16 million columns of a two-column table.
        let line = "U\t\\N\tsite-a\t1\t0\t" + String(repeating: "f", count: 4 << 20) + "\t\\N\t1\tx\n"
        let error = #expect(throws: BundleError.self) {
            try Array(line.utf8).withUnsafeBufferPointer {
                try CopyTextDecoder(schema: schema, source: "test").forEach(in: $0) { _ in }
            }
        }
        #expect(error?.code == .malformedBatch)
        // Trailing zero bytes are allowed, however many.
        let zeros = "U\t\\N\tsite-a\t1\t0\t03" + String(repeating: "0", count: 1 << 20) + "\t\\N\t1\tx\n"
        let count = try Array(zeros.utf8).withUnsafeBufferPointer {
            try CopyTextDecoder(schema: schema, source: "test").forEach(in: $0) { _ in }
        }
        #expect(count == 1)
    }

    @Test(arguments: [
        "U\t\\N\tsite-a\t99999999999999999999\t0\t\\N\t\\N\t1\tx\n",
        "U\t\\N\tsite-a\t1.5\t0\t\\N\t\\N\t1\tx\n",
        "U\t\\N\tsite-a\t007\t0\t\\N\t\\N\t1\tx\n",
        "U\t\\N\tsite-a\t+7\t0\t\\N\t\\N\t1\tx\n",
        "U\t-0\tsite-a\t7\t0\t\\N\t\\N\t1\tx\n",
        "U\t\\N\tsite-a\t7\t-9223372036854775809\t\\N\t\\N\t1\tx\n",
        "U\t\\N\tsite-a\t7\t0\t\\N\t\\N\t1e3\tx\n",
        "U\t\\N\tsite-a\t7\t0\t\\N\t\\N\t00\tx\n",
    ])
    func aBatchNumberThatIsHugeFractionalOrNotCanonicalIsRefused(_ line: String) {
        let error = #expect(throws: BundleError.self, "\(line.debugDescription)") {
            try Array(line.utf8).withUnsafeBufferPointer {
                try CopyTextDecoder(schema: CraftedBundle.samples, source: "test").forEach(in: $0) { _ in }
            }
        }
        #expect(error?.code == .malformedBatch)
    }

    @Test func extremeButCanonicalBatchNumbersRead() throws {
        let line = "U\t-9223372036854775808\tsite-a\t9223372036854775807\t0\t\\N\t\\N\t-1\tx\n"
        var changes: [Change] = []
        try Array(line.utf8).withUnsafeBufferPointer {
            try CopyTextDecoder(schema: CraftedBundle.samples, source: "test").forEach(in: $0) { changes.append($0) }
        }
        #expect(changes.first?.version == Int64.min)
        #expect(changes.first?.originSequence == Int64.max)
        #expect(changes.first?.values.first == .integer(-1))
    }

    @Test(arguments: [(19, 1), (1, 2), (3, 4)])
    func aBundleWrittenWithAnyCompressionLevelOrThreadsIsOneFrameAndReads(_ level: Int, _ threads: Int) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 60, blobSize: 100_000, seed: 31)
        let written = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(
                kind: .delta, sequence: 1, directory: directory.path, batchSize: 1 << 20, compressionLevel: level,
                compressionThreads: threads),
            sender: keys.site, recipient: keys.hub.identity)
        let read = try BundleFixtures.readAll(written.paths, sender: keys.site.identity, recipient: keys.hub)
        #expect(read.changes.count == 60)
    }

    // MARK: - Secretstream tags

    /// A real bundle with several chunks, opened to re-encrypt its plaintext with chosen tags.
    struct TagFixture {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let paths: [String]
        var image: BundleImage
        let stream: StreamImage

        init() throws {
            keys = try KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: 4, blobSize: 1500, seed: 12)
            paths = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(kind: .delta, sequence: 1, directory: directory.path, chunkSize: 1024),
                sender: keys.site, recipient: keys.hub.identity
            ).paths
            image = try BundleImage(paths: paths)
            stream = try StreamImage(image, recipient: keys.hub)
        }

        /// Encrypts the plaintext again with `tags`, re-signs as the sender and reads the bundle.
        mutating func read(tags: [UInt8]) throws -> Outcome {
            image.setCiphertext(stream.encrypt(tags: tags))
            try image.reseal(signer: keys.site)
            try image.write()
            return outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
        }
    }

    @Test func onlyMessageChunksThenOneFinalAreRead() throws {
        var fixture = try TagFixture()
        let count = fixture.stream.chunks.count
        #expect(count >= 4)
        let normal = [UInt8](repeating: StreamImage.message, count: count - 1) + [StreamImage.final]
        #expect(try fixture.read(tags: normal).code == nil, "the control reads")
        for (what, tag) in [("PUSH", StreamImage.push), ("REKEY", StreamImage.rekey)] {
            var tags = normal
            tags[1] = tag
            let result = try fixture.read(tags: tags)
            #expect(result.code == .malformedStream, "\(what): \(result)")
            #expect(result.error?.message.contains(what) == true, "\(what): \(result)")
        }
        var early = normal
        early[1] = StreamImage.final
        let finalEarly = try fixture.read(tags: early)
        #expect(finalEarly.code == .trailingData, "FINAL before the last chunk: \(finalEarly)")
        let noFinal = try fixture.read(tags: [UInt8](repeating: StreamImage.message, count: count))
        #expect(noFinal.code == .truncated, "no FINAL: \(noFinal)")
    }

    // MARK: - Duplicate parts

    @Test func ofTwoCopiesOfAPartTheOneMatchingItsDigestIsUsed() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 30, blobSize: 1000, seed: 13)
        let written = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: 12_000),
            sender: keys.site, recipient: keys.hub.identity)
        #expect(written.paths.count >= 2)
        // A damaged copy of part 1 whose name sorts first, and which is also given first.
        var damaged = try PartImage(path: written.paths[0])
        damaged.ciphertext[100] ^= 0x01
        let copy = directory.file("a-damaged-copy.fsb")
        try damaged.write(to: copy)
        let result = outcome {
            let read = try BundleFixtures.readAll(
                [copy] + written.paths, sender: keys.site.identity, recipient: keys.hub)
            #expect(read.changes.count == 30)
        }
        #expect(result.code == nil, "\(result)")
        // Found as a sibling, too.
        let sibling = outcome {
            try BundleFixtures.readAll([written.paths[1]], sender: keys.site.identity, recipient: keys.hub)
        }
        #expect(sibling.code == nil, "\(sibling)")
        // When no copy matches, the digest mismatch is reported.
        var alsoDamaged = try PartImage(path: written.paths[0])
        alsoDamaged.ciphertext[200] ^= 0x01
        try alsoDamaged.write(to: written.paths[0])
        let neither = outcome {
            try BundleFixtures.readAll([copy] + written.paths, sender: keys.site.identity, recipient: keys.hub)
        }
        #expect(neither.code == .digestMismatch, "\(neither)")
    }
}
