import FieldSyncCore
import Foundation

/// Reads a decrypted payload entry by entry: the manifest, the batches in order, then the batch index, and checks
/// each against the format, the signed header and each other.
///
/// Not thread-safe. ``BundleContents`` reads the manifest on the caller's thread, then hands the reader to its
/// prefetch thread, the only one to use it from then on.
final class PayloadReader {
    /// What ``next()`` yields.
    enum Step: Sendable {
        case batch(ChangeBatch)
        /// The batch index, read and checked against every batch, after the stream's authenticated end.
        case end(BatchIndex)
    }

    let manifest: BundleManifest

    private let archive: ArchiveReader
    private let stream: PlaintextStream
    private let name: String
    private var seen: [BatchInfo] = []
    private var storages = BatchStoragePool()
    private var ended = false

    /// Reads and checks the manifest, the payload's first entry.
    ///
    /// - Throws: ``BundleError``: tampered chunk, unsafe archive, or a manifest that disagrees with the signed header.
    init(header: BundleHeader, stream: PlaintextStream, name: String, limits: ArchiveLimits) throws {
        self.stream = stream
        self.name = name
        archive = try ArchiveReader(name: name, limits: limits) { (limit) throws in
            try stream.next(upTo: limit)
        }
        guard let first = try archive.nextEntry(), first.path == BundleManifest.entryName else {
            throw BundleError(
                .malformedManifest, "the payload does not start with \(BundleManifest.entryName)", path: name)
        }
        guard first.size <= 16 << 20 else {
            throw BundleError(.limitExceeded, "the manifest is larger than 16 MiB", path: name)
        }
        let manifest: BundleManifest
        do {
            // Every key must be one this version defines: a key a reader skips is a key two readers disagree on.
            manifest = try StrictJSONDecoder(refusesUnknownKeys: true).decode(
                BundleManifest.self, from: try archive.readEntry(first))
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError(.malformedManifest, "the manifest is not valid: \(error)", path: name)
        }
        guard manifest.format == BundleManifest.formatName, manifest.version == 1 else {
            throw BundleError(
                .malformedManifest,
                "the manifest is '\(Identifier.shown(manifest.format))' version \(manifest.version), not "
                    + "\(BundleManifest.formatName) version 1", path: name)
        }
        guard manifest.sender == header.sender else {
            throw BundleError(
                .senderMismatch,
                "the encrypted manifest names sender '\(Identifier.shown(manifest.sender))' but the bundle is "
                    + "signed by '\(header.sender)'; refusing it", path: name)
        }
        guard manifest.bundleID == header.bundleID, manifest.kind == header.kind,
            manifest.recipient == header.recipient
        else {
            throw BundleError(
                .senderMismatch,
                "the encrypted manifest does not match the signed header (bundle id, kind or "
                    + "recipient); refusing it", path: name)
        }
        guard manifest.encoding == BundleManifest.encodingName else {
            throw BundleError(
                .malformedManifest, "unknown batch encoding '\(Identifier.shown(manifest.encoding))'", path: name)
        }
        guard
            manifest.changeColumns == BundleManifest.changeColumnNames
                || manifest.changeColumns == BundleManifest.legacyChangeColumnNames
        else {
            throw BundleError(
                .malformedManifest,
                "the manifest's change_columns are not ones this FieldSync reads (expected "
                    + "\(BundleManifest.changeColumnNames.joined(separator: ", ")))", path: name)
        }
        guard Set(manifest.tables.map(\.name)).count == manifest.tables.count else {
            throw BundleError(.malformedManifest, "the manifest lists a table twice", path: name)
        }
        self.manifest = manifest
    }

    /// The next batch; then, once, the checked batch index; then `nil`.
    ///
    /// - Throws: ``BundleError`` for an unexpected entry, a table the manifest does not list, or counts that
    ///   disagree with the index.
    func next() throws -> Step? {
        guard !ended else { return nil }
        guard let entry = try archive.nextEntry() else {
            throw BundleError(.truncated, "the payload ends without its batch index", path: name)
        }
        if entry.path == BatchIndex.entryName {
            let index = try finishIndex(entry)
            ended = true
            return .end(index)
        }
        let prefix = String(format: "batches/%06d.", seen.count + 1)
        guard entry.path.hasPrefix(prefix), entry.path.hasSuffix(".tsv") else {
            throw BundleError(
                .unsafeArchive,
                "unexpected payload entry '\(Identifier.shown(entry.path))' (expected \(prefix)TABLE.tsv)", path: name)
        }
        let tableName = String(entry.path.dropFirst(prefix.count).dropLast(4))
        guard let schema = manifest.table(named: tableName) else {
            throw BundleError(
                .malformedManifest,
                "batch \(Identifier.shown(entry.path)) names table '\(Identifier.shown(tableName))', which the "
                    + "manifest does not list",
                path: name)
        }
        let storage = storages.storage(count: Int(entry.size))
        try archive.readEntry(entry, into: storage.mutableBytes)
        // Every line ends in a newline and escapes any newline inside a value, so lines are rows.
        let rows = CopyTextDecoder.lineCount(storage.bytes)
        seen.append(BatchInfo(entry: entry.path, table: tableName, rows: rows, bytes: storage.count))
        return .batch(
            ChangeBatch(
                schema: schema, entry: entry.path, storage: storage, source: name,
                changeColumnCount: manifest.changeColumns.count))
    }

    private func finishIndex(_ entry: ArchiveReader.Entry) throws -> BatchIndex {
        guard entry.size <= 64 << 20 else {
            throw BundleError(.limitExceeded, "the batch index is larger than 64 MiB", path: name)
        }
        let decoded: BatchIndex
        do {
            decoded = try StrictJSONDecoder(refusesUnknownKeys: true).decode(
                BatchIndex.self, from: try archive.readEntry(entry))
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError(.malformedManifest, "the batch index is not valid: \(error)", path: name)
        }
        guard decoded.batches.count == seen.count else {
            throw BundleError(
                .malformedManifest,
                "the batch index lists \(decoded.batches.count) batches but the payload holds \(seen.count)", path: name
            )
        }
        for (listed, found) in zip(decoded.batches, seen) {
            let ranges = [listed.originSequence, listed.version].compactMap { $0 }
            guard listed.entry == found.entry, listed.table == found.table, listed.bytes == found.bytes,
                listed.rows == found.rows, ranges.allSatisfy({ $0.min <= $0.max })
            else {
                throw BundleError(.malformedManifest, "batch \(found.entry) does not match the batch index", path: name)
            }
        }
        guard decoded.rows == decoded.batches.reduce(0, { $0 + $1.rows }) else {
            throw BundleError(.malformedManifest, "the batch index's row total does not add up", path: name)
        }
        if try archive.nextEntry() != nil {
            throw BundleError(.unsafeArchive, "the payload has entries after its batch index", path: name)
        }
        // Drain to the authenticated end: a FINAL chunk must follow, and nothing after it.
        while try stream.nextChunk() {}
        return decoded
    }
}
