import FieldSyncCore
import FieldSyncTesting
import Testing

@testable import FieldSyncBundle

/// The secretstream layer refuses damage on its own, even when the signed digests have been recomputed to match
/// (as a sender's own buggy or malicious software could do): every chunk is authenticated, the stream must end
/// with its FINAL chunk, and nothing may follow it.
@Suite struct ChunkTamperTests {
    static let chunkSize = 1024
    static let sealedChunk = chunkSize + PartImage.chunkOverhead

    struct Fixture {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let paths: [String]
        let original: BundleImage

        init(partSizeLimit: Int64 = 4_000_000_000) throws {
            keys = try KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: 10, blobSize: 600, seed: 11)
            let result = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(
                    kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: partSizeLimit,
                    chunkSize: ChunkTamperTests.chunkSize),
                sender: keys.site, recipient: keys.hub.identity)
            paths = result.paths
            original = try BundleImage(paths: paths)
        }

        /// Start offset of every sealed chunk in the whole ciphertext (after the 24-byte stream header).
        var chunkStarts: [Int] {
            Array(stride(from: PartImage.streamHeaderSize, to: original.ciphertext.count, by: sealedChunk))
        }

        /// Re-signs `ciphertext` as the sender would and reads the bundle to its end.
        func attempt(ciphertext: [UInt8]) throws -> Outcome {
            var image = original
            image.setCiphertext(ciphertext)
            try image.reseal(signer: keys.site)
            try image.write()
            return outcome {
                try BundleFixtures.readAll(paths, findSiblings: false, sender: keys.site.identity, recipient: keys.hub)
            }
        }
    }

    @Test func resealingWithoutChangesStillReads() throws {
        let fixture = try Fixture()
        #expect(fixture.chunkStarts.count >= 5)
        let result = try fixture.attempt(ciphertext: fixture.original.ciphertext)
        guard case .accepted = result else {
            Issue.record("an unchanged, re-signed bundle was refused: \(result)")
            return
        }
    }

    @Test func aFlippedBitInAnyChunkIsRefusedAsATamperedChunk() throws {
        let fixture = try Fixture()
        let ciphertext = fixture.original.ciphertext
        var failures: [String] = []
        for (number, start) in fixture.chunkStarts.enumerated() {
            let end = min(start + Self.sealedChunk, ciphertext.count)
            // The tag byte, the first and last data bytes, the middle, and the MAC at the end.
            for offset in Set([start, start + 1, (start + end) / 2, end - 17, end - 16, end - 1]) {
                let result = try fixture.attempt(
                    ciphertext: FileBytes.flipping(ciphertext, offset: offset, bit: offset % 8))
                guard result.code == .tamperedChunk, result.error?.message.contains("chunk \(number + 1) ") == true
                else {
                    failures.append("chunk \(number + 1), byte \(offset): \(result)")
                    continue
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func aFlippedBitInTheStreamHeaderIsRefused() throws {
        let fixture = try Fixture()
        for offset in 0..<PartImage.streamHeaderSize {
            let result = try fixture.attempt(
                ciphertext: FileBytes.flipping(fixture.original.ciphertext, offset: offset, bit: offset % 8))
            #expect(result.code == .tamperedChunk, "stream header byte \(offset): \(result)")
        }
    }

    @Test func swappedChunksAreRefused() throws {
        let fixture = try Fixture()
        let c = fixture.original.ciphertext
        let starts = fixture.chunkStarts
        let first = Array(c[starts[1]..<starts[2]])
        let second = Array(c[starts[2]..<starts[3]])
        let swapped = Array(c[0..<starts[1]]) + second + first + Array(c[starts[3]...])
        let result = try fixture.attempt(ciphertext: swapped)
        #expect(result.code == .tamperedChunk, "\(result)")
        #expect(result.error?.message.contains("chunk 2 ") == true)
    }

    @Test func aDroppedChunkIsRefused() throws {
        let fixture = try Fixture()
        let c = fixture.original.ciphertext
        let starts = fixture.chunkStarts
        let withoutSecond = Array(c[0..<starts[1]]) + Array(c[starts[2]...])
        #expect(try fixture.attempt(ciphertext: withoutSecond).code == .tamperedChunk)
    }

    @Test func aStreamEndingBeforeItsFinalChunkIsRefusedAsTruncated() throws {
        let fixture = try Fixture()
        let c = fixture.original.ciphertext
        let last = fixture.chunkStarts.last!
        // Without the FINAL chunk: every remaining chunk authenticates, but the stream just stops.
        let result = try fixture.attempt(ciphertext: Array(c[0..<last]))
        #expect(result.code == .truncated, "\(result)")
        #expect(result.error?.message.contains("final chunk") == true)
        // Cut inside the FINAL chunk, or only the stream header left.
        for cut in [last + 1, last + 16, c.count - 1] {
            let code = try fixture.attempt(ciphertext: Array(c[0..<cut])).code
            #expect(code == .truncated || code == .tamperedChunk, "cut at \(cut): \(String(describing: code))")
        }
        #expect(try fixture.attempt(ciphertext: Array(c[0..<PartImage.streamHeaderSize])).code == .truncated)
        #expect(try fixture.attempt(ciphertext: Array(c[0..<10])).code == .truncated)
    }

    /// The FINAL chunk the writer emits is always shorter than a full chunk and its length is not framed, so bytes
    /// glued after it are read as part of it and it fails authentication. (The `.trailingData` check after a
    /// FINAL chunk fires only for a full-size final chunk, which this writer never produces.)
    @Test func bytesAfterTheFinalChunkAreRefused() throws {
        let fixture = try Fixture()
        let c = fixture.original.ciphertext
        let extras = [
            [UInt8(0)], Array(c[fixture.chunkStarts[1]..<fixture.chunkStarts[2]]), Array(c.suffix(40)),
            [UInt8](repeating: 0, count: 5000),
        ]
        for extra in extras {
            let result = try fixture.attempt(ciphertext: c + extra)
            #expect(result.code == .tamperedChunk || result.code == .trailingData, "\(result)")
        }
    }

    @Test func aHeaderThatLiesAboutTheChunkSizeIsRefused() throws {
        let fixture = try Fixture()
        for chunkSize in [2048, 1023, 1 << 25, 0, -1] {
            var image = fixture.original
            try image.editHeader { $0.chunkSize = chunkSize }
            try image.reseal(signer: fixture.keys.site)
            try image.write()
            let result = outcome {
                try BundleFixtures.readAll(
                    fixture.paths, sender: fixture.keys.site.identity, recipient: fixture.keys.hub)
            }
            #expect(result.code == .tamperedChunk || result.code == .notABundle, "chunk size \(chunkSize): \(result)")
        }
    }

    @Test func ciphertextMovedAcrossPartsIsRefused() throws {
        // Split bundle: move one byte from the end of part 1 to the start of part 2 and re-sign; the whole
        // ciphertext is unchanged, so this must read. Then swap the parts' ciphertexts: this must not.
        let fixture = try Fixture(partSizeLimit: 6000)
        #expect(fixture.original.parts.count >= 2)
        var moved = fixture.original
        let byte = moved.parts[0].ciphertext.removeLast()
        moved.parts[1].ciphertext.insert(byte, at: 0)
        try moved.reseal(signer: fixture.keys.site)
        try moved.write()
        let read = outcome {
            try BundleFixtures.readAll(fixture.paths, sender: fixture.keys.site.identity, recipient: fixture.keys.hub)
        }
        #expect(read.code == nil, "\(read)")

        var swapped = fixture.original
        let first = swapped.parts[0].ciphertext
        swapped.parts[0].ciphertext = swapped.parts[1].ciphertext
        swapped.parts[1].ciphertext = first
        try swapped.reseal(signer: fixture.keys.site)
        try swapped.write()
        let result = outcome {
            try BundleFixtures.readAll(fixture.paths, sender: fixture.keys.site.identity, recipient: fixture.keys.hub)
        }
        #expect(result.code == .tamperedChunk || result.code == .truncated, "\(result)")
    }
}
