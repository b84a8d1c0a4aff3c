import FieldSyncBundle
import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

/// A bundle larger than the part-size limit is written as parts that can be given in any order, each checkable
/// without keys; a missing, foreign or conflicting part is named.
@Suite struct PartTests {
    static let partSizeLimit: Int64 = 20_000

    struct Split {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let result: BundleWriter.Result
        let changes: [TableChange]

        /// A bundle of `rows` incompressible 1000-byte blobs, split at 20,000 bytes.
        init(rows: Int, keys: KeyFixtures? = nil, seed: UInt64 = 1, sequence: UInt64 = 1) throws {
            self.keys = try keys ?? KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: rows, blobSize: 1000, seed: seed)
            changes = data.changes
            result = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(
                    kind: .snapshot, sequence: sequence, directory: directory.path,
                    partSizeLimit: PartTests.partSizeLimit,
                    chunkSize: 4096),
                sender: self.keys.site, recipient: self.keys.hub.identity)
        }

        var paths: [String] { result.paths }

        func read(_ paths: [String], findSiblings: Bool = false) throws -> [TableChange] {
            try BundleFixtures.readAll(
                paths, findSiblings: findSiblings, sender: keys.site.identity, recipient: keys.hub
            ).changes
        }
    }

    static func name(_ path: String) -> String { (path as NSString).lastPathComponent }

    @Test func aLargeBundleIsSplitIntoNamedPartsWithinTheLimit() throws {
        let split = try Split(rows: 80)
        let count = split.paths.count
        #expect((4...7).contains(count), "expected about five parts, got \(count)")
        let base = "site-a-to-hub-00000001"
        #expect(split.paths.map(Self.name) == (1...count).map { "\(base).\($0)-of-\(count).fsb" })
        for path in split.paths {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)
            #expect(size.int64Value <= Self.partSizeLimit)
        }
        #expect(split.result.bytes == split.paths.reduce(0) { $0 + (try! BundleReader.inspectPart(at: $1).size) })
        // Only the finished parts remain: no `.part` files from writing.
        #expect(try split.directory.contents() == split.paths.map(Self.name))
        #expect(BundleFixtures.identical(try split.read(split.paths), split.changes))
    }

    @Test func aSmallBundleIsOneFileNamedFsb() throws {
        let split = try Split(rows: 3)
        #expect(split.paths.map(Self.name) == ["site-a-to-hub-00000001.fsb"])
        #expect(try split.directory.contents() == ["site-a-to-hub-00000001.fsb"])
        let info = try BundleReader.inspectPart(at: split.paths[0])
        #expect(info.part == 1 && info.parts == 1)
    }

    static func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { index in
            var rest = items
            let first = rest.remove(at: index)
            return permutations(rest).map { [first] + $0 }
        }
    }

    @Test func everyOrderOfAThreePartBundleReadsTheSame() throws {
        let split = try Split(rows: 45)
        try #require(split.paths.count == 3, "the fixture should make three parts, made \(split.paths.count)")
        let orders = Self.permutations(split.paths)
        #expect(orders.count == 6)
        for order in orders {
            let reader = try BundleReader(paths: order, findSiblings: false)
            #expect(reader.partPaths == split.paths, "parts are put back in part order")
            #expect(BundleFixtures.identical(try split.read(order), split.changes), "order \(order.map(Self.name))")
        }
    }

    @Test func shuffledPartsOfALargerBundleReadTheSame() throws {
        let split = try Split(rows: 80)
        var random = SeededGenerator(seed: 42)
        var orders = [Array(split.paths.reversed())]
        for _ in 0..<6 { orders.append(split.paths.shuffled(using: &random)) }
        for order in orders {
            #expect(BundleFixtures.identical(try split.read(order), split.changes), "order \(order.map(Self.name))")
        }
    }

    @Test func anyOnePartFindsItsSiblings() throws {
        let split = try Split(rows: 45)
        for path in split.paths {
            let reader = try BundleReader(paths: [path])
            #expect(reader.partPaths == split.paths)
            #expect(BundleFixtures.identical(try split.read([path], findSiblings: true), split.changes))
        }
    }

    @Test func eachPartChecksOutOnItsOwnWithoutKeys() throws {
        let split = try Split(rows: 80)
        var total: Int64 = 0
        for (index, path) in split.paths.enumerated() {
            let info = try BundleReader.inspectPart(at: path)
            #expect(info.part == index + 1 && info.parts == split.paths.count)
            #expect(info.header == split.result.header)
            #expect(info.path == path)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)
            #expect(info.size == size.int64Value)
            #expect(info.ciphertextLength > 0 && info.ciphertextLength < info.size)
            #expect(
                info.totalCiphertextLength == (try BundleReader.inspectPart(at: split.paths[0])).totalCiphertextLength)
            total += info.ciphertextLength
        }
        #expect(total == (try BundleReader.inspectPart(at: split.paths[0])).totalCiphertextLength)
    }

    @Test func aMissingPartIsNamed() throws {
        let split = try Split(rows: 80)
        let count = split.paths.count
        try FileManager.default.removeItem(atPath: split.paths[1])
        // Found by looking beside the first part.
        let error = #expect(throws: BundleError.self) { _ = try BundleReader(paths: [split.paths[0]]) }
        #expect(error?.code == .missingPart)
        #expect(error?.message.contains("part 2 of \(count)") == true, "\(String(describing: error))")
        // Given explicitly, without looking.
        let rest = split.paths.enumerated().filter { $0.offset != 1 }.map(\.element)
        let explicit = #expect(throws: BundleError.self) { _ = try BundleReader(paths: rest, findSiblings: false) }
        #expect(explicit?.code == .missingPart)
        #expect(explicit?.message.contains("part 2 of \(count)") == true)
        // Two missing: both named.
        try FileManager.default.removeItem(atPath: split.paths[count - 1])
        let two = #expect(throws: BundleError.self) { _ = try BundleReader(paths: [split.paths[0]]) }
        #expect(two?.message.contains("part 2 of \(count), part \(count) of \(count)") == true)
    }

    @Test func aPartFromAnotherBundleIsRefused() throws {
        let keys = try KeyFixtures()
        let a = try Split(rows: 80, keys: keys, seed: 1)
        // Same sender, recipient, sequence and file names; different bundle.
        let b = try Split(rows: 80, keys: keys, seed: 1)
        try #require(a.paths.count == b.paths.count)
        var mixed = a.paths
        mixed[1] = b.paths[1]
        let error = #expect(throws: BundleError.self) { _ = try BundleReader(paths: mixed, findSiblings: false) }
        #expect(error?.code == .foreignPart)
        #expect(error?.path == b.paths[1])
        #expect(error?.message.contains(a.result.header.bundleID) == true)
    }

    @Test func aForeignPartBesideTheBundleIsIgnoredWhenLookingForSiblings() throws {
        let keys = try KeyFixtures()
        let a = try Split(rows: 45, keys: keys, seed: 1)
        let b = try Split(rows: 45, keys: keys, seed: 2, sequence: 2)
        let stray = a.directory.file("stray.2-of-\(b.paths.count).fsb")
        try FileManager.default.copyItem(atPath: b.paths[1], toPath: stray)
        #expect(BundleFixtures.identical(try a.read([a.paths[2]], findSiblings: true), a.changes))
        try FileManager.default.removeItem(atPath: a.paths[1])
        let error = #expect(throws: BundleError.self) { _ = try BundleReader(paths: [a.paths[0]]) }
        #expect(error?.code == .missingPart)
    }

    @Test func aPartGivenTwiceIsFineUnlessTheCopiesDiffer() throws {
        let split = try Split(rows: 45)
        #expect(BundleFixtures.identical(try split.read(split.paths + [split.paths[1]]), split.changes))
        // A second "part 2" with the same header but another trailer.
        var bytes = try FileBytes.read(split.paths[1])
        let digest = try #require(FileBytes.lastRange(of: Array("\"digest\":\"".utf8), in: bytes))
        let offset = digest.upperBound
        bytes[offset] = bytes[offset] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let copy = split.directory.file("copy.fsb")
        try FileBytes.write(bytes, to: copy)
        let error = #expect(throws: BundleError.self) {
            _ = try BundleReader(paths: split.paths + [copy], findSiblings: false)
        }
        #expect(error?.code == .duplicatePart)
    }

    @Test func aDamagedOrCutPartIsNamed() throws {
        let split = try Split(rows: 80)
        let count = split.paths.count
        let info = try BundleReader.inspectPart(at: split.paths[2])
        var bytes = try FileBytes.read(split.paths[2])
        let middle = Int(info.size - info.ciphertextLength / 2) - 200
        bytes[middle] ^= 0x10
        try FileBytes.write(bytes, to: split.paths[2])
        let reader = try BundleReader(paths: split.paths)
        let error = #expect(throws: BundleError.self) { try reader.verify(sender: split.keys.site.identity) }
        #expect(error?.code == .digestMismatch)
        #expect(error?.path == split.paths[2])
        #expect(error?.message.contains("part 3 of \(count)") == true)

        try FileBytes.write(Array(bytes.prefix(bytes.count / 2)), to: split.paths[3])
        let cut = #expect(throws: BundleError.self) { _ = try BundleReader(paths: split.paths) }
        #expect(cut?.code == .truncated)
        #expect(cut?.path == split.paths[3])
    }

    @Test func anAbandonedWriterLeavesNoFiles() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 80, blobSize: 1000, seed: 3)
        do {
            let writer = try BundleWriter(
                configuration: .init(
                    kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: Self.partSizeLimit),
                tables: [data.table], sender: keys.site, recipient: keys.hub.identity)
            for item in data.changes { try writer.append(item.change, to: item.table) }
            #expect(try directory.contents().contains { $0.hasSuffix(".part") }, "parts are written as they fill")
            writer.abort()
        }
        #expect(try directory.contents().isEmpty)
        do {
            let writer = try BundleWriter(
                configuration: .init(
                    kind: .delta, sequence: 2, directory: directory.path, partSizeLimit: Self.partSizeLimit),
                tables: [data.table], sender: keys.site, recipient: keys.hub.identity)
            for item in data.changes { try writer.append(item.change, to: item.table) }
            // Released without finish().
        }
        #expect(try directory.contents().isEmpty)
    }

    @Test func aPartLimitTooSmallForTheHeaderIsRefused() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let error = #expect(throws: BundleError.self) {
            _ = try BundleWriter(
                configuration: .init(kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: 2000),
                tables: [], sender: keys.site, recipient: keys.hub.identity)
        }
        #expect(error?.code == .invalidArgument)
        #expect(try directory.contents().isEmpty)
    }
}
