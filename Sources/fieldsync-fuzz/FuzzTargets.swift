import FieldSyncBundle
import FieldSyncCore
import FieldSyncTesting
import Foundation

/// What the fuzzer feeds, and to which reader.
enum FuzzTarget: String, CaseIterable {
    /// A part file: framing, header and trailer JSON; each input is also tried re-signed, so that a fuzzed header
    /// reaches the checks after the signature and, with its content key intact, the decryption.
    case envelope
    /// The decrypted payload: first byte even, the rest is a tar that the harness compresses into one zstd frame;
    /// odd, the rest is taken as the compressed payload. Sealed into a real signed bundle and read to its end.
    case payload
    /// Batch lines of a table with a column of every type: first byte even, seven change columns; odd, six.
    case batch
}

/// Throwaway keys, a scratch directory and the table the batch target decodes, made once per run.
///
/// The keys are generated when the fuzzer starts and never written anywhere.
final class FuzzContext: @unchecked Sendable {
    // @unchecked: a fuzzer calls the target from one thread at a time.
    let site: NodeKeys
    let hub: NodeKeys
    let directory: String
    let schema: TableSchema
    private var counter = 0

    init() throws {
        site = try NodeKeys.generate(id: "site-a")
        hub = try NodeKeys.generate(id: "hub")
        // In memory where there is a tmpfs: every sealed input is written and flushed to disk.
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let template = base + "/fieldsync-fuzz.XXXXXX"
        var path = Array(template.utf8CString)
        guard mkdtemp(&path) != nil else { throw FuzzFailure(message: "cannot create a scratch directory") }
        directory = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        schema = try TableSchema(
            name: "samples",
            columns: [
                Column(name: "id", type: .integer, nullable: false), Column(name: "score", type: .real),
                Column(name: "name", type: .text), Column(name: "photo", type: .blob),
                Column(name: "amount", type: .numeric), Column(name: "active", type: .boolean),
                Column(name: "day", type: .date), Column(name: "seen", type: .timestamptz),
                Column(name: "ref", type: .uuid), Column(name: "doc", type: .json), Column(name: "extra", type: .any),
            ],
            primaryKey: ["id"])
    }

    /// A fresh empty directory for one input.
    func scratch() throws -> String {
        counter += 1
        let path = "\(directory)/\(counter % 4)"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs one input. Refusals are the expected outcome; a trap or a crash is a finding, and so is an error that
    /// is not a ``BundleError`` (its text could reach a person unexplained).
    /// The last refusal, for `--verbose`.
    private(set) var lastRefusal: String?

    func run(_ target: FuzzTarget, _ input: [UInt8]) throws {
        lastRefusal = nil
        switch target {
        case .envelope:
            let directory = try scratch()
            try readPart(input, in: directory)
            if let resigned = BundleFuzzing.resign(partFile: input, signer: site) {
                try readPart(resigned, in: directory)
            }
        case .payload:
            guard let mode = input.first else { return }
            let rest = Array(input.dropFirst())
            let payload = mode & 1 == 0 ? RawTar.zstd(rest, level: 1) : rest
            let directory = try scratch()
            let path = try BundleFuzzing.seal(
                payload: payload, sender: site, recipient: hub.identity, directory: directory)
            try expectBundleError { try readAll([path]) }
        case .batch:
            guard let mode = input.first else { return }
            try expectBundleError {
                try BundleFuzzing.decodeBatch(
                    Array(input.dropFirst()), schema: schema, changeColumnCount: mode & 1 == 0 ? 7 : 6)
            }
        }
    }

    private func readPart(_ bytes: [UInt8], in directory: String) throws {
        let path = directory + "/input.fsb"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try expectBundleError { _ = try BundleReader.inspectPart(at: path) }
        try expectBundleError { try readAll([path]) }
        // The header alone through the strict JSON reader, as every document kind.
        if bytes.count > 12, bytes.starts(with: Array("FSBUNDLE".utf8)) {
            let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
            if length <= bytes.count - 12 { _ = try? BundleFuzzing.decodeDocuments(Array(bytes[12..<12 + length])) }
        }
    }

    private func readAll(_ paths: [String]) throws {
        let reader = try BundleReader(paths: paths, findSiblings: false)
        try reader.verify(sender: site.identity)
        let contents = try reader.open(recipient: hub)
        while let batch = try contents.nextBatch() { try batch.forEach { _ in } }
    }

    private func expectBundleError(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as BundleError {
            lastRefusal = "\(error.code): \(error.message)"
            return
        } catch {
            throw FuzzFailure(message: "an error that is not a BundleError: \(type(of: error)): \(error)")
        }
    }

    // MARK: - Seeds

    /// Real bundles and payloads, and every hostile case of the format's reader rules.
    func seeds(_ target: FuzzTarget) throws -> [[UInt8]] {
        switch target {
        case .envelope: return try envelopeSeeds()
        case .payload: return try payloadSeeds()
        case .batch: return try batchSeeds().map { [0] + $0 } + [[1] + (try sixColumnBatch())]
        }
    }

    private func changes() -> [Change] {
        let values: [[Value]] = [
            [
                .integer(1), .real(0.1), .text("tab\there\\ ü\r\n"), .blob([0, 1, 255]), .text("12.50"),
                .integer(1), .text("2026-03-01"), .text("2024-03-01 10:00:00+03"),
                .text("78618dea-7453-4dc6-a7b0-69b1641318e2"), .text("{\"a\":[1,2]}"), .integer(-5),
            ],
            [
                .integer(Int64.max), .real(-.infinity), .text(""), .blob([]), .null, .integer(0), .null, .null,
                .null, .null, .text("\u{0}x\n"),
            ],
            [
                .integer(Int64.min), .real(.nan), .null, .null, .integer(7), .null, .null, .null, .null, .null,
                .real(2.5),
            ],
        ]
        return values.enumerated().map { index, row in
            Change(
                operation: index == 2 ? .delete : (index == 1 ? .update : .insert), origin: "site-a",
                originSequence: Int64(index + 1), baseVersion: Int64(index), version: index == 0 ? nil : 9,
                changedColumns: index == 1 ? ColumnSet([0, 1, 10]) : nil, values: row,
                changedAt: index == 1 ? "2026-11-26T09:13:33.123Z" : nil)
        }
    }

    private func batchSeeds() throws -> [[UInt8]] {
        let lines = try BundleFuzzing.encodeBatch(changes(), schema: schema)
        let text = String(decoding: lines, as: UTF8.self)
        let first = String(text.prefix { $0 != "\n" })
        return [
            lines,
            Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8),
            Array((first + "\r\n").utf8),
            Array(first.utf8),
            Array(text.replacingOccurrences(of: "\t1\t", with: "\t1.0\t").utf8),
            Array(text.replacingOccurrences(of: "\t1\t", with: "\t99999999999999999999\t").utf8),
            Array(text.replacingOccurrences(of: "\t1\t", with: "\t007\t").utf8),
            Array(text.replacingOccurrences(of: "\\N", with: "\\Q").utf8),
            Array(
                ("U\t\\N\tsite-a\t1\t0\t" + String(repeating: "ff", count: 4096) + "\t\\N"
                    + String(repeating: "\t", count: 11) + "\n").utf8),
        ]
    }

    private func sixColumnBatch() throws -> [UInt8] {
        let text = String(decoding: try BundleFuzzing.encodeBatch(changes(), schema: schema), as: UTF8.self)
        // Drop the seventh change column (changed_at) from every line.
        let lines = text.split(separator: "\n").map { line -> String in
            var fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            fields.remove(at: 6)
            return fields.joined(separator: "\t")
        }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    private func tar(manifest: [UInt8], batch: [UInt8]?) throws -> RawTar {
        var tar = RawTar()
        tar.addFile("manifest.json", manifest)
        var infos: [String] = []
        if let batch {
            tar.addFile("batches/000001.samples.tsv", batch)
            let rows = batch.filter { $0 == 10 }.count
            infos.append(
                "{\"bytes\":\(batch.count),\"entry\":\"batches/000001.samples.tsv\",\"rows\":\(rows),"
                    + "\"table\":\"samples\"}")
        }
        let rows = batch?.filter { $0 == 10 }.count ?? 0
        tar.addFile("batches.json", Array("{\"batches\":[\(infos.joined(separator: ","))],\"rows\":\(rows)}".utf8))
        return tar
    }

    private func payloadSeeds() throws -> [[UInt8]] {
        let batch = try BundleFuzzing.encodeBatch(changes(), schema: schema)
        let written = try BundleFuzzing.payload(
            sender: "site-a", recipient: "hub", tables: [schema], batches: [("samples", batch)])
        let manifestText = String(
            decoding: try manifestJSON(), as: UTF8.self)
        let manifest = Array(manifestText.utf8)
        var seeds: [[UInt8]] = [[1] + written]
        var plain = try tar(manifest: manifest, batch: batch)
        plain.end()
        seeds.append([0] + plain.bytes)
        // Hostile records before the manifest.
        let records: [(inout RawTar) -> Void] = [
            { $0.addPax("pax_global_header", global: true, records: [("path", "manifest.json")]) },
            { $0.addPax("PaxHeader/manifest.json", global: false, records: [("path", "batches.json")]) },
            { $0.add("././@LongLink", typeflag: "L", data: Array("manifest.json\0".utf8)) },
            { $0.add("././@LongLink", typeflag: "K", data: Array("/etc/passwd\0".utf8)) },
            { $0.add("manifest.json", typeflag: "2") },
            { $0.add("manifest.json", data: manifest, magic: RawTar.gnuMagic) },
            { $0.add("manifest.json", data: manifest, checksumError: 1) },
            { $0.add("manifest.json", data: manifest, paddingByte: 0x41) },
        ]
        for record in records {
            var tar = RawTar()
            record(&tar)
            tar.bytes += plain.bytes
            seeds.append([0] + tar.bytes)
        }
        // Bytes after the end marker, a second frame, a skippable frame.
        seeds.append([0] + plain.bytes + [UInt8](repeating: 0, count: 512))
        seeds.append([0] + plain.bytes + Array("hidden".utf8))
        seeds.append([1] + RawTar.zstd(plain.bytes) + RawTar.zstd([1, 2, 3]))
        seeds.append([1] + RawTar.skippableFrame([1, 2, 3]) + RawTar.zstd(plain.bytes))
        // Manifests and indexes two JSON readers could read differently.
        for edit in [
            manifestText.replacingOccurrences(
                of: "\"kind\":\"delta\"", with: "\"kind\":\"delta\",\"kind\":\"snapshot\""),
            manifestText.replacingOccurrences(of: "{\"bundle_id\"", with: "{\"x\":1,\"bundle_id\""),
            manifestText.replacingOccurrences(of: "\"version\":1", with: "\"version\":1.0"),
            "\u{FEFF}" + manifestText,
        ] {
            var tar = try tar(manifest: Array(edit.utf8), batch: batch)
            tar.end()
            seeds.append([0] + tar.bytes)
        }
        return seeds
    }

    private func manifestJSON() throws -> [UInt8] {
        // The writer's own manifest, taken from a payload it wrote: decompress and read the first entry.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct Manifest: Encodable {
            var bundle_id: String
            var change_columns: [String]
            var encoding: String
            var format: String
            var kind: String
            var properties: [String: String]
            var recipient: String
            var sender: String
            var tables: [TableSchema]
            var version: Int
        }
        return Array(
            try encoder.encode(
                Manifest(
                    bundle_id: BundleFuzzing.bundleID,
                    change_columns: ["op", "version", "origin", "origin_seq", "base_version", "changed", "changed_at"],
                    encoding: "copy-text-1", format: "fieldsync-manifest", kind: "delta", properties: [:],
                    recipient: "hub", sender: "site-a", tables: [schema], version: 1)))
    }

    private func envelopeSeeds() throws -> [[UInt8]] {
        let directory = try scratch()
        let writer = try BundleWriter(
            configuration: .init(
                kind: .delta, sequence: 3, prerequisites: ["hub_version": 12], directory: directory,
                chunkSize: 1024),
            tables: [schema], sender: site, recipient: hub.identity)
        for change in changes() { try writer.append(change, to: "samples") }
        let written = try writer.finish()
        let real = try Data(contentsOf: URL(fileURLWithPath: written.paths[0]))
        var seeds = [Array(real)]
        let bytes = Array(real)
        let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        let header = String(decoding: bytes[12..<12 + length], as: UTF8.self)
        let rest = Array(bytes[(12 + length)...])
        func with(header text: [UInt8]) -> [UInt8] {
            let count = UInt32(text.count)
            return Array("FSBUNDLE".utf8) + [
                UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff),
                UInt8(count & 0xff),
            ] + text + rest
        }
        let edits: [[UInt8]] = [
            [0xEF, 0xBB, 0xBF] + Array(header.utf8),
            [0xFF, 0xFE] + header.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] },
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":3,\"sequence\":4").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":9223372036854775808").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":18446744073709551616").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":-3").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":3.0").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":007").utf8),
            Array(header.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":5.").utf8),
            Array(header.replacingOccurrences(of: "\"key_epoch\":1", with: "\"key_epoch\":4294967296").utf8),
            Array(header.replacingOccurrences(of: "\"hub_version\":12", with: "\"hub_version\":1e300").utf8),
            Array(header.replacingOccurrences(of: "\"chunk_size\":1024", with: "\"chunk_size\":99999999999").utf8),
            Array((header + " x").utf8),
        ]
        for edit in edits {
            let part = with(header: edit)
            seeds.append(BundleFuzzing.resign(partFile: part, signer: site) ?? part)
        }
        return seeds
    }
}

/// A finding: something other than a refusal.
struct FuzzFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
