import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// The seventh change column, `changed_at`: written by this FieldSync, optional per row, and absent from bundles
/// written before it, which still read.
@Suite struct EditTimeTests {
    static let table = CraftedBundle.samples

    static let editTimes: [String?] = [
        "2026-11-26T09:13:33.123Z", nil, "1999-12-31T23:59:59.999Z", "", "odd\ttext \\ with\nescapes",
    ]

    static func changes() -> [Change] {
        editTimes.enumerated().map { index, time in
            Change(
                operation: index == 1 ? .delete : .update, origin: "site-a", originSequence: Int64(index + 1),
                baseVersion: Int64(index), changedColumns: index == 2 ? ColumnSet([1]) : nil,
                values: [.integer(Int64(index)), index == 1 ? .null : .text("n\(index)")], changedAt: time)
        }
    }

    @Test func editTimesTravelWithEveryChange() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let written = try Self.write(keys: keys, directory: directory)
        let read = try BundleFixtures.readAll(written.paths, sender: keys.site.identity, recipient: keys.hub).changes
        #expect(read.map(\.change.changedAt) == Self.editTimes)
        #expect(read.map(\.change) == Self.changes())
    }

    @Test func aWrittenBundleListsSevenChangeColumnsAndRequiresThem() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let written = try Self.write(keys: keys, directory: directory)
        #expect(written.header.requires.contains("batch-changed-at"))
        let reader = try BundleReader(paths: written.paths)
        try reader.verify(sender: keys.site.identity)
        let contents = try reader.open(recipient: keys.hub)
        #expect(
            contents.manifest.changeColumns == [
                "op", "version", "origin", "origin_seq", "base_version", "changed", "changed_at",
            ])
        let batch = try #require(try contents.nextBatch())
        let bytes = String(decoding: UnsafeRawBufferPointer(batch.storage.bytes), as: UTF8.self)
        let lines = bytes.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "U\t\\N\tsite-a\t1\t0\t\\N\t2026-11-26T09:13:33.123Z\t0\tn0")
        #expect(lines[1] == "D\t\\N\tsite-a\t2\t1\t\\N\t\\N\t1\t\\N")
        #expect(lines[4] == "U\t\\N\tsite-a\t5\t4\t\\N\todd\\ttext \\\\ with\\nescapes\t4\tn4")
    }

    /// A bundle written before edit times travelled: its manifest lists six change columns, its lines have six
    /// change fields, and it reads with every edit time unknown.
    @Test func aBundleWithSixChangeColumnsStillReads() throws {
        let lines =
            "I\t\\N\tsite-a\t1\t0\t\\N\t1\tfirst\n" + "U\t\\N\tsite-a\t2\t7\t02\t1\ttab\\there\n"
            + "D\t\\N\tsite-a\t3\t8\t\\N\t2\t\\N\n"
        let batch = Array(lines.utf8)
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            var manifest = CraftedBundle.manifest(for: header)
            manifest.changeColumns = ["op", "version", "origin", "origin_seq", "base_version", "changed"]
            return [
                ("manifest.json", try CraftedBundle.json(manifest)), (HostilePayload.batchName(1), batch),
                (
                    "batches.json",
                    try CraftedBundle.json(
                        BatchIndex(
                            batches: [
                                BatchInfo(
                                    entry: HostilePayload.batchName(1), table: "samples", rows: 3, bytes: batch.count)
                            ], rows: 3))
                ),
            ]
        }
        let read = try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub).changes
        #expect(
            read.map(\.change) == [
                Change(
                    operation: .insert, origin: "site-a", originSequence: 1, values: [.integer(1), .text("first")]),
                Change(
                    operation: .update, origin: "site-a", originSequence: 2, baseVersion: 7,
                    changedColumns: ColumnSet([1]), values: [.integer(1), .text("tab\there")]),
                Change(
                    operation: .delete, origin: "site-a", originSequence: 3, baseVersion: 8,
                    values: [.integer(2), .null]),
            ])
        #expect(read.allSatisfy { $0.change.changedAt == nil })
    }

    /// Six-field lines under a manifest that lists seven change columns (or the reverse) do not decode.
    @Test(arguments: [true, false])
    func linesMustMatchTheManifestsChangeColumns(_ manifestListsSeven: Bool) throws {
        let line = manifestListsSeven ? "I\t\\N\tsite-a\t1\t0\t\\N\t1\tx\n" : "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tx\n"
        let result = try Self.read(line: line) { manifest in
            if !manifestListsSeven {
                manifest.changeColumns = ["op", "version", "origin", "origin_seq", "base_version", "changed"]
            }
        }
        #expect(result.code == .malformedBatch, "\(result)")
    }

    @Test(arguments: [
        ["op", "version", "origin", "origin_seq", "base_version", "changed", "edited_at"],
        ["op", "version", "origin", "origin_seq", "base_version"],
        ["op", "version", "origin", "origin_seq", "base_version", "changed", "changed_at", "extra"],
        [],
    ])
    func unknownChangeColumnsAreRefused(_ columns: [String]) throws {
        let result = try Self.read(line: "I\t\\N\tsite-a\t1\t0\t\\N\t\\N\t1\tx\n") { $0.changeColumns = columns }
        #expect(result.code == .malformedManifest, "\(result)")
    }

    @Test func aWriterStatesTheCreatedTimeItIsGiven() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        let writer = try BundleWriter(
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, created: created),
            tables: [Self.table], sender: keys.site, recipient: keys.hub.identity)
        let result = try writer.finish()
        #expect(result.header.created == "2026-09-21T14:13:20Z")
        #expect(try BundleReader(paths: result.paths).header.created == "2026-09-21T14:13:20Z")
    }

    static func write(keys: KeyFixtures, directory: TemporaryDirectory) throws -> BundleWriter.Result {
        try BundleFixtures.write(
            Self.changes().map { TableChange(table: "samples", change: $0) }, tables: [Self.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path), sender: keys.site,
            recipient: keys.hub.identity)
    }

    /// Seals a manifest (edited by `adjust`) and one batch of `line`, and reads the bundle to its end.
    static func read(line: String, adjust: @escaping (inout BundleManifest) -> Void) throws -> Outcome {
        let batch = Array(line.utf8)
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let paths = try CraftedBundle.sealEntries(
            sender: keys.site, recipient: keys.hub.identity, directory: directory.path
        ) { header in
            var manifest = CraftedBundle.manifest(for: header)
            adjust(&manifest)
            let info = BatchInfo(entry: HostilePayload.batchName(1), table: "samples", rows: 1, bytes: batch.count)
            return [
                ("manifest.json", try CraftedBundle.json(manifest)), (HostilePayload.batchName(1), batch),
                ("batches.json", try CraftedBundle.json(BatchIndex(batches: [info], rows: 1))),
            ]
        }
        return outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
    }
}
