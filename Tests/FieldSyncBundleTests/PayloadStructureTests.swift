import FieldSyncCore
import FieldSyncTesting
import Testing

@testable import FieldSyncBundle

/// A payload that is safe to open but not what the format says (entries out of order, an index that does not
/// match, batches that do not decode) is refused with a code that says which.
@Suite struct PayloadStructureTests {
    static let table = CraftedBundle.samples

    static func changes(_ count: Int) -> [Change] {
        (1...count).map {
            Change(
                operation: .insert, origin: "site-a", originSequence: Int64($0),
                values: [.integer(Int64($0)), .text("n\($0)")])
        }
    }

    static func info(_ number: Int, rows: Int, bytes: [UInt8], table: String = "samples") -> BatchInfo {
        BatchInfo(entry: HostilePayload.batchName(number, table: table), table: table, rows: rows, bytes: bytes.count)
    }

    /// Seals `entries` (built from the header) and reads the bundle to its end.
    static func read(entries: @escaping (BundleHeader) throws -> [(String, [UInt8])]) throws -> Outcome {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path, entries: entries)
        return outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
    }

    static func manifest(_ header: BundleHeader) throws -> (String, [UInt8]) {
        ("manifest.json", try CraftedBundle.json(CraftedBundle.manifest(for: header)))
    }

    static func index(_ batches: [BatchInfo], rows: Int? = nil) throws -> (String, [UInt8]) {
        (
            "batches.json",
            try CraftedBundle.json(BatchIndex(batches: batches, rows: rows ?? batches.reduce(0) { $0 + $1.rows }))
        )
    }

    @Test func theManifestMustComeFirst() throws {
        let batch = try CraftedBundle.batch(Self.changes(2))
        let result = try Self.read { header in
            [
                (HostilePayload.batchName(1), batch), try Self.manifest(header),
                try Self.index([Self.info(1, rows: 2, bytes: batch)]),
            ]
        }
        #expect(result.code == .malformedManifest, "\(result)")
    }

    @Test(arguments: [
        ("not JSON", Array("{\"format\": ".utf8)),
        ("empty", []),
        ("a JSON array", Array("[]".utf8)),
    ])
    func aManifestThatDoesNotDecodeIsRefused(_ what: String, _ bytes: [UInt8]) throws {
        let result = try Self.read { _ in [("manifest.json", bytes), try Self.index([])] }
        #expect(result.code == .malformedManifest, "\(what): \(result)")
    }

    @Test func aManifestWithAnInvalidTableIsRefused() throws {
        let result = try Self.read { header in
            let json = String(decoding: try CraftedBundle.json(CraftedBundle.manifest(for: header)), as: UTF8.self)
            // A column name that is not a SQL name; the schema's own validation runs on decoding.
            let bad = json.replacingOccurrences(of: "\"note\"", with: "\"no te; drop table x\"")
            return [("manifest.json", Array(bad.utf8)), try Self.index([])]
        }
        #expect(result.code == .malformedManifest, "\(result)")
    }

    @Test func aManifestWithAnUnknownEncodingOrATableTwiceIsRefused() throws {
        let unknownEncoding = try Self.read { header in
            var manifest = CraftedBundle.manifest(for: header)
            manifest.encoding = "csv-2"
            return [("manifest.json", try CraftedBundle.json(manifest)), try Self.index([])]
        }
        #expect(unknownEncoding.code == .malformedManifest, "\(unknownEncoding)")
        let twice = try Self.read { header in
            let manifest = CraftedBundle.manifest(for: header, tables: [Self.table, Self.table])
            return [("manifest.json", try CraftedBundle.json(manifest)), try Self.index([])]
        }
        #expect(twice.code == .malformedManifest, "\(twice)")
    }

    @Test func aBatchForATableTheManifestDoesNotListIsRefused() throws {
        let batch = try CraftedBundle.batch(Self.changes(1))
        let result = try Self.read { header in
            [
                try Self.manifest(header), (HostilePayload.batchName(1, table: "secrets"), batch),
                try Self.index([Self.info(1, rows: 1, bytes: batch, table: "secrets")]),
            ]
        }
        #expect(result.code == .malformedManifest, "\(result)")
    }

    @Test func batchesOutOfSequenceAreRefused() throws {
        let batch = try CraftedBundle.batch(Self.changes(1))
        let result = try Self.read { header in
            [
                try Self.manifest(header), (HostilePayload.batchName(2), batch),
                try Self.index([Self.info(2, rows: 1, bytes: batch)]),
            ]
        }
        #expect(result.code == .unsafeArchive, "\(result)")
    }

    @Test func entriesAfterTheIndexAreRefused() throws {
        let result = try Self.read { header in
            [try Self.manifest(header), try Self.index([]), ("notes.txt", Array("x".utf8))]
        }
        #expect(result.code == .unsafeArchive, "\(result)")
    }

    @Test func aPayloadWithoutItsIndexIsRefused() throws {
        let batch = try CraftedBundle.batch(Self.changes(2))
        let result = try Self.read { header in [try Self.manifest(header), (HostilePayload.batchName(1), batch)] }
        #expect(result.code == .truncated, "\(result)")
    }

    @Test func anIndexThatDisagreesWithTheBatchesIsRefused() throws {
        let batch = try CraftedBundle.batch(Self.changes(3))
        let honest = Self.info(1, rows: 3, bytes: batch)
        var wrongBytes = honest
        wrongBytes.bytes += 1
        var wrongTable = honest
        wrongTable.table = "other"
        let lies: [(String, [BatchInfo], Int?)] = [
            ("a batch too many", [honest, Self.info(2, rows: 1, bytes: batch)], nil),
            ("no batches", [], nil),
            ("wrong byte count", [wrongBytes], nil),
            ("wrong table", [wrongTable], nil),
            ("a total that does not add up", [honest], 4),
        ]
        for (what, batches, total) in lies {
            let result = try Self.read { header in
                [try Self.manifest(header), (HostilePayload.batchName(1), batch), try Self.index(batches, rows: total)]
            }
            #expect(result.code == .malformedManifest, "\(what): \(result)")
        }
    }

    /// The index's per-batch row counts are what an importer commits against; a count that disagrees with the
    /// lines in the batch must not pass.
    @Test(arguments: [0, 2, 4, 1000])
    func anIndexWithWrongRowCountsIsRefused(_ listedRows: Int) throws {
        let batch = try CraftedBundle.batch(Self.changes(3))
        let result = try Self.read { header in
            [
                try Self.manifest(header), (HostilePayload.batchName(1), batch),
                try Self.index([Self.info(1, rows: listedRows, bytes: batch)]),
            ]
        }
        #expect(result.code == .malformedManifest, "index lists \(listedRows) rows for 3: \(result)")
    }

    @Test(arguments: [
        ("too few fields", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\n"),
        ("too many fields", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tx\ty\n"),
        ("unknown operation", "X\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tx\n"),
        ("integer overflow", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t9223372036854775808\tx\n"),
        ("invalid origin", "I\t\\N\t../etc\t1\t0\t\\N\t\\N\t1\tx\n"),
        ("invalid escape", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tbad \\q escape\n"),
        ("invalid UTF-8 via octal escape", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\t\\377\\376\n"),
        ("changed column out of range", "I\t\\N\tsite-a\t1\t0\tff\t\\N\t1\tx\n"),
        ("invalid changed_at escape", "I\t\\N\tsite-a\t1\t0\t\\N\t2026-\\q\t1\tx\n"),
        ("no final newline", "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tx"),
    ])
    func aBatchThatDoesNotDecodeIsRefused(_ what: String, _ line: String) throws {
        let bytes = Array(line.utf8)
        let rows = line.filter { $0 == "\n" }.count
        let result = try Self.read { header in
            [
                try Self.manifest(header), (HostilePayload.batchName(1), bytes),
                try Self.index([Self.info(1, rows: rows, bytes: bytes)]),
            ]
        }
        #expect(result.code == .malformedBatch, "\(what): \(result)")
        #expect(result.error?.message.contains("x") != nil)
    }

    @Test func aPayloadThatIsNotAnArchiveIsRefused() throws {
        let keys = try KeyFixtures()
        for payload in [[UInt8](), Array("just some text, not tar+zstd\n".utf8), SeededGenerator.randomPayload] {
            let directory = try TemporaryDirectory()
            let paths = try CraftedBundle.seal(
                sender: keys.site, recipient: keys.hub.identity, directory: directory.path
            ) { _, sink in
                try payload.withUnsafeBytes { try sink($0) }
            }
            let result = outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
            #expect(result.code != nil, "\(result)")
        }
    }
}

extension SeededGenerator {
    static let randomPayload: [UInt8] = {
        var random = SeededGenerator(seed: 99)
        return random.bytes(5000)
    }()
}
