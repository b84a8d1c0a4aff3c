import FieldSyncCore
import FieldSyncTesting
import Testing

@testable import FieldSyncBundle

/// Payloads a signed but hostile sender could seal are refused when read, in bounded memory and without touching
/// the disk: the archive reader sees them only after the signature has been checked, so each one is sealed and
/// signed with real keys here.
@Suite(.serialized) struct HostileArchiveTests {
    /// Peak resident memory may grow by at most this much while one hostile bundle is written and read.
    static let memoryAllowance: Int64 = 200 << 20

    static func seal(
        _ keys: KeyFixtures, in directory: TemporaryDirectory, format: ArchiveBuilder.Format = .paxRestricted,
        compressionLevel: Int = 3, build: (BundleHeader, ArchiveBuilder) throws -> Void
    ) throws -> [String] {
        try CraftedBundle.sealArchive(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path, format: format,
            compressionLevel: compressionLevel, build: build)
    }

    static func read(_ paths: [String], _ keys: KeyFixtures, limits: ArchiveLimits = .default) -> Outcome {
        outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub, limits: limits) }
    }

    static func totalSize(_ paths: [String]) throws -> Int64 {
        try paths.reduce(0) { $0 + (try BundleReader.inspectPart(at: $1).size) }
    }

    /// What the refusal must say, for the payloads refused by a limit or by an entry's type.
    static let messages: [HostilePayload: String] = [
        .gigabyteOfZeros: "declares 1073741824 bytes", .justOverEntryLimit: "declares 67108865 bytes",
        .hundredThousandEntries: "more than 50000 entries", .hugeManifest: "larger than 16 MiB",
        .symlink: "is a link", .hardlink: "is a link", .absolutePath: "'/etc/passwd' has an unsafe path",
    ]

    @Test(arguments: HostilePayload.allCases)
    func aHostilePayloadIsRefused(_ payload: HostilePayload) throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let before = ProcessMemory.peakResidentBytes()
        let paths = try Self.seal(keys, in: directory, compressionLevel: 1) { header, builder in
            try payload.write(manifest: try CraftedBundle.json(CraftedBundle.manifest(for: header)), to: builder)
        }
        let result = Self.read(paths, keys)
        let after = ProcessMemory.peakResidentBytes()
        guard let code = result.code, payload.expectedCodes.contains(code) else {
            Issue.record("\(payload): expected \(payload.expectedCodes), got \(result)")
            return
        }
        #expect(result.error?.path == paths[0], "the refusal names the bundle file")
        if let fragment = Self.messages[payload] {
            #expect(result.error?.message.contains(fragment) == true, "\(payload): \(result)")
        }
        // Even a gigabyte of zeros or 100,000 entries make a small file: zstd packs runs and headers tightly.
        #expect(try Self.totalSize(paths) < 4 << 20)
        if let before, let after {
            #expect(after - before < Self.memoryAllowance, "peak RSS grew by \((after - before) >> 20) MiB")
        }
        // Nothing was extracted: the directory holds the bundle and nothing else.
        #expect(try directory.contents() == paths.map { String($0.split(separator: "/").last!) })
    }

    @Test(arguments: [ArchiveBuilder.Format.pax, .gnutar, .ustar])
    func linksAndUnsafePathsAreRefusedInEveryTarDialect(_ format: ArchiveBuilder.Format) throws {
        let keys = try KeyFixtures()
        for payload in [HostilePayload.symlink, .hardlink, .absolutePath, .parentDirectory, .fifo] {
            let directory = try TemporaryDirectory()
            let paths = try Self.seal(keys, in: directory, format: format) { header, builder in
                try payload.write(manifest: try CraftedBundle.json(CraftedBundle.manifest(for: header)), to: builder)
            }
            let result = Self.read(paths, keys)
            #expect(result.code == .unsafeArchive, "\(format) \(payload): \(result)")
        }
    }

    @Test func aDecompressionBombIsRefusedByTheRatioLimit() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let limits = ArchiveLimits(
            maxEntries: 1000, maxEntrySize: 8 << 20, maxExpansionRatio: 50, ratioFloor: 1 << 20)
        let before = ProcessMemory.peakResidentBytes()
        // 16 entries of 8 MiB zeros: each within the entry-size limit, 128 MiB in all from a few KiB.
        let paths = try Self.seal(keys, in: directory) { header, builder in
            try builder.addFile("manifest.json", bytes: try CraftedBundle.json(CraftedBundle.manifest(for: header)))
            for number in 1...16 { try builder.addZeros(HostilePayload.batchName(number), size: 8 << 20) }
            try builder.finish()
        }
        #expect(try Self.totalSize(paths) < 64 << 10)
        let result = Self.read(paths, keys, limits: limits)
        #expect(result.code == .limitExceeded, "\(result)")
        #expect(result.error?.message.contains("expands more than 50:1") == true)
        if let before, let after = ProcessMemory.peakResidentBytes() {
            #expect(after - before < 64 << 20, "peak RSS grew by \((after - before) >> 20) MiB")
        }
    }

    @Test func anEntryJustOverTheSizeLimitIsRefusedAndOneAtTheLimitReads() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 1, blobSize: 20_000, seed: 5)
        let result = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
            sender: keys.site, recipient: keys.hub.identity)
        let size = Int64(try #require(result.index.batches.first).bytes)
        func limits(entrySize: Int64) -> ArchiveLimits {
            ArchiveLimits(maxEntries: 100, maxEntrySize: entrySize, maxExpansionRatio: 1000, ratioFloor: 1 << 20)
        }
        #expect(Self.read(result.paths, keys, limits: limits(entrySize: size)).code == nil)
        let refused = Self.read(result.paths, keys, limits: limits(entrySize: size - 1))
        #expect(refused.code == .limitExceeded, "\(refused)")
        #expect(refused.error?.message.contains("batches/000001.samples.tsv") == true)
    }

    @Test func oneEntryTooManyIsRefusedAndExactlyEnoughReads() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 10, blobSize: 100, seed: 6)
        let result = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, batchSize: 100),
            sender: keys.site, recipient: keys.hub.identity)
        #expect(result.index.batches.count == 10)
        func limits(entries: Int) -> ArchiveLimits {
            ArchiveLimits(maxEntries: entries, maxEntrySize: 1 << 20, maxExpansionRatio: 1000, ratioFloor: 1 << 20)
        }
        // manifest.json, ten batches, batches.json.
        #expect(Self.read(result.paths, keys, limits: limits(entries: 12)).code == nil)
        #expect(Self.read(result.paths, keys, limits: limits(entries: 11)).code == .limitExceeded)
    }

    @Test func aBatchWithinTheEntryLimitButOverTheRatioIsRefusedMidEntry() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try Self.seal(keys, in: directory) { header, builder in
            try builder.addFile("manifest.json", bytes: try CraftedBundle.json(CraftedBundle.manifest(for: header)))
            try builder.addZeros(HostilePayload.batchName(1), size: 32 << 20)
            try builder.finish()
        }
        let limits = ArchiveLimits(
            maxEntries: 10, maxEntrySize: 64 << 20, maxExpansionRatio: 100, ratioFloor: 1 << 20)
        let result = Self.read(paths, keys, limits: limits)
        #expect(result.code == .limitExceeded, "\(result)")
    }

    /// Entry names are chosen by the sender; a refusal quotes them for the operator, so they must not carry
    /// control characters (a forged second log line, terminal escapes).
    @Test func aRefusalDoesNotEchoControlCharactersFromAnEntryName() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let name = "batches/x\nINFO bundle verified OK\u{1B}[2J\r.tsv"
        let paths = try Self.seal(keys, in: directory) { header, builder in
            try builder.addFile("manifest.json", bytes: try CraftedBundle.json(CraftedBundle.manifest(for: header)))
            try builder.addFile(name, text: "")
            try builder.finish()
        }
        let result = Self.read(paths, keys)
        #expect(result.code == .unsafeArchive, "\(result)")
        let message = try #require(result.error?.description)
        #expect(
            !message.unicodeScalars.contains { $0.properties.generalCategory == .control },
            "\(message.debugDescription)")
    }
}
