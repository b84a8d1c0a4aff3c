import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// Damage to a bundle file, anywhere, is refused with a ``BundleError``: never accepted, never a crash.
private let randomBytes: [UInt8] = {
    var random = SeededGenerator(seed: 3)
    return random.bytes(333)
}()

@Suite struct TamperTests {
    /// A small single-part bundle of several 1 KiB chunks, with its keys.
    struct Small {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let path: String
        let bytes: [UInt8]
        let image: PartImage

        init(rows: Int = 8, blobSize: Int = 600) throws {
            keys = try KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: rows, blobSize: blobSize, seed: 7)
            let result = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(
                    kind: .delta, sequence: 1, directory: try directory.directory("original"), chunkSize: 1024),
                sender: keys.site, recipient: keys.hub.identity)
            path = result.paths[0]
            bytes = try FileBytes.read(path)
            image = try PartImage(path: path)
        }

        /// Writes `bytes` as the only file of a fresh directory and tries to read it completely.
        func attempt(_ bytes: [UInt8], in scratch: TemporaryDirectory) -> Outcome {
            let path = scratch.file("damaged.fsb")
            do {
                try FileBytes.write(bytes, to: path)
            } catch {
                return .failed(error)
            }
            return outcome {
                try BundleFixtures.readAll(
                    [path], findSiblings: false, sender: keys.site.identity, recipient: keys.hub)
            }
        }
    }

    @Test func theUndamagedBundleReads() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        #expect(small.image.ciphertext.count > 4 * (1024 + PartImage.chunkOverhead), "several chunks")
        guard case .accepted = small.attempt(small.bytes, in: scratch) else {
            Issue.record("the undamaged copy was refused")
            return
        }
    }

    /// Codes each region may be refused with; `nil` means any ``BundleError``.
    static let expectedCodes: [String: Set<BundleError.Code>] = [
        "start magic": [.notABundle],
        "header length": [.notABundle, .truncated],
        "ciphertext": [.digestMismatch],
        "signature": [.badSignature],
        "end magic": [.truncated],
    ]

    @Test func aFlippedBitAnywhereIsRefused() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        var failures: [String] = []
        var tried: [String: Int] = [:]
        var codes: [String: Set<String>] = [:]
        for (name, range) in small.image.regions {
            for offset in range {
                // Every byte, a different bit each time, so every bit position is hit in every region.
                let bit = (offset * 5 + 3) % 8
                let result = small.attempt(FileBytes.flipping(small.bytes, offset: offset, bit: bit), in: scratch)
                tried[name, default: 0] += 1
                guard let code = result.code else {
                    failures.append("\(name), byte \(offset) bit \(bit): \(result)")
                    continue
                }
                codes[name, default: []].insert(code.description)
                if let expected = Self.expectedCodes[name], !expected.contains(code) {
                    failures.append("\(name), byte \(offset) bit \(bit): \(result)")
                }
            }
        }
        #expect(
            failures.isEmpty,
            "\(failures.count) flips not refused as expected:\n\(failures.prefix(20).joined(separator: "\n"))")
        #expect(tried.values.reduce(0, +) == small.bytes.count)
        for (name, _) in small.image.regions { #expect(tried[name, default: 0] > 0, "no flip in \(name)") }
        // The header and trailer are JSON: damage shows as invalid JSON or as a bad signature, never silence.
        #expect(codes["header"]?.contains("badSignature") == true)
        #expect(codes["trailer"]?.contains("badSignature") == true)
    }

    @Test func everyBitOfTheSignatureAndFramingMatters() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        let regions = Dictionary(uniqueKeysWithValues: small.image.regions.map { ($0.name, $0.range) })
        var failures: [String] = []
        for name in ["start magic", "header length", "trailer length", "signature", "end magic"] {
            for offset in regions[name]! {
                for bit in 0..<8 {
                    let result = small.attempt(FileBytes.flipping(small.bytes, offset: offset, bit: bit), in: scratch)
                    if result.code == nil { failures.append("\(name) byte \(offset) bit \(bit): \(result)") }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
    }

    @Test func aCutAtAnyLengthIsRefusedAsTruncated() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        var lengths = Set(stride(from: 0, to: small.bytes.count, by: 7))
        // Every length near the framing at either end.
        lengths.formUnion(0..<40)
        lengths.formUnion(max(0, small.bytes.count - 400)..<small.bytes.count)
        var failures: [String] = []
        for length in lengths.sorted() {
            let result = small.attempt(Array(small.bytes[0..<length]), in: scratch)
            let expected: Set<BundleError.Code> = length < 12 ? [.notABundle, .truncated] : [.truncated]
            guard let code = result.code, expected.contains(code) else {
                failures.append("cut to \(length) bytes: \(result)")
                continue
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
        // The same checks apply without keys.
        try FileBytes.write(Array(small.bytes.dropLast(1)), to: scratch.file("cut.fsb"))
        #expect(throws: BundleError.self) { try BundleReader.inspectPart(at: scratch.file("cut.fsb")) }
    }

    @Test(arguments: [
        ("one zero byte", [UInt8(0)]),
        ("a newline", Array("\n".utf8)),
        ("a kilobyte of zeros", [UInt8](repeating: 0, count: 1024)),
        ("random bytes", randomBytes),
    ])
    func appendedBytesAreRefusedAsTrailingData(_ what: String, _ extra: [UInt8]) throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        let result = small.attempt(small.bytes + extra, in: scratch)
        #expect(result.code == .trailingData, "\(what): \(result)")
        let inspected = outcome { _ = try BundleReader.inspectPart(at: scratch.file("damaged.fsb")) }
        #expect(inspected.code == .trailingData, "\(what), without keys: \(inspected)")
    }

    /// Appended bytes that themselves end with the end magic make the file's last 76 bytes look like a tail; the
    /// reader then sees a trailer length that does not fit. Refused either way, though not always as trailing data.
    @Test func appendedBytesEndingInTheEndMagicAreRefused() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        for extra in [Array("FSBTRAIL".utf8), Array(small.bytes.suffix(100)), randomBytes + Array("FSBTRAIL".utf8)] {
            let result = small.attempt(small.bytes + extra, in: scratch)
            #expect(result.code == .trailingData || result.code == .notABundle, "\(result)")
        }
    }

    @Test func aBundleCopiedTwiceIntoOneFileIsRefusedAsTrailingData() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        let result = small.attempt(small.bytes + small.bytes, in: scratch)
        #expect(result.code == .trailingData, "\(result)")
    }

    @Test func aFileThatIsNotABundleIsRefused() throws {
        let small = try Small()
        let scratch = try TemporaryDirectory()
        for bytes in [
            [], Array("hello\n".utf8), Array("FSBUNDLE".utf8), Array(small.bytes.reversed()),
            [UInt8](repeating: 0, count: 5000),
        ] {
            #expect(small.attempt(bytes, in: scratch).code == .notABundle)
        }
    }
}
