import FieldSyncCore
import Foundation
import Logging

/// Reads a bundle: its header without keys, its signature and digests with the sender's public key, and its
/// changes with the recipient's secret keys, as a stream of batches.
///
/// ```swift
/// let reader = try BundleReader(paths: ["inbox/site-a-to-hub-00000007.fsb"])
/// try reader.verify(sender: siteIdentity)          // before anything is decrypted
/// let contents = try reader.open(recipient: hubKeys)
/// while let batch = try contents.nextBatch() {
///     try batch.forEach { change in … }
/// }
/// ```
public final class BundleReader {
    private let envelope: EnvelopeReader
    private let logger: Logger

    /// Reads the framing of the given part files (any order) and checks they form one complete bundle.
    ///
    /// - Parameters:
    ///   - paths: one or more part files. Given one part of a split bundle, the others are looked for beside it.
    ///   - findSiblings: whether to look for missing parts in the first file's directory.
    /// - Throws: ``BundleError``: not a bundle, truncated, trailing data, foreign or missing part,
    ///   unsupported version or capability.
    public init(paths: [String], findSiblings: Bool = true, logger: Logger = Logger(label: "fieldsync.bundle"))
        throws
    {
        envelope = try EnvelopeReader(paths: paths, findSiblings: findSiblings)
        self.logger = logger
    }

    /// The signed header. Not yet trusted until ``verify(sender:)`` has passed.
    public var header: BundleHeader { envelope.header }

    /// The part files in part order.
    public var partPaths: [String] { envelope.parts.map(\.path) }

    /// Total size of all part files in bytes.
    public var totalSize: Int64 { envelope.totalSize }

    /// Checks every part's signature with `sender`'s key, then every digest.
    public func verify(sender: PublicIdentity) throws {
        try envelope.verify(sender: sender)
    }

    /// Decrypts the payload with the recipient's keys and reads its manifest.
    ///
    /// - Precondition: ``verify(sender:)`` succeeded.
    /// - Throws: ``BundleError``: wrong recipient, tampered chunk, unsafe archive, or a manifest that disagrees
    ///   with the signed header.
    public func open(recipient: NodeKeys, limits: ArchiveLimits = .default) throws -> BundleContents {
        let stream = try envelope.open(recipient: recipient)
        return try BundleContents(header: header, stream: stream, name: partPaths[0], limits: limits)
    }
}

/// The decrypted payload of a bundle, read batch by batch in bounded memory.
public final class BundleContents {
    /// The payload's manifest: tables and their schemas.
    public let manifest: BundleManifest
    /// The batch index, available once ``nextBatch()`` has returned `nil`.
    public private(set) var index: BatchIndex?

    private let archive: ArchiveReader
    private let stream: PlaintextStream
    private let name: String
    private var seen: [BatchInfo] = []
    private var rowsSeen = 0

    init(header: BundleHeader, stream: PlaintextStream, name: String, limits: ArchiveLimits) throws {
        self.stream = stream
        self.name = name
        archive = try ArchiveReader(name: name, limits: limits) { (buffer) throws in
            try stream.read(into: buffer)
        }
        guard let first = try archive.nextEntry(), first.path == BundleManifest.entryName else {
            throw BundleError(.malformedManifest, "the payload does not start with \(BundleManifest.entryName)", path: name)
        }
        guard first.size <= 16 << 20 else {
            throw BundleError(.limitExceeded, "the manifest is larger than 16 MiB", path: name)
        }
        let manifest: BundleManifest
        do {
            manifest = try JSONDecoder().decode(BundleManifest.self, from: Data(try archive.readEntry(first)))
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError(.malformedManifest, "the manifest is not valid: \(error)", path: name, underlying: error)
        }
        guard manifest.format == BundleManifest.formatName, manifest.version == 1 else {
            throw BundleError(
                .malformedManifest, "the manifest is '\(manifest.format)' version \(manifest.version), not "
                    + "\(BundleManifest.formatName) version 1", path: name)
        }
        guard manifest.sender == header.sender else {
            throw BundleError(
                .senderMismatch,
                "the encrypted manifest names sender '\(manifest.sender)' but the bundle is signed by "
                    + "'\(header.sender)'; refusing it", path: name)
        }
        guard manifest.bundleID == header.bundleID, manifest.kind == header.kind,
            manifest.recipient == header.recipient
        else {
            throw BundleError(
                .senderMismatch, "the encrypted manifest does not match the signed header (bundle id, kind or "
                    + "recipient); refusing it", path: name)
        }
        guard manifest.encoding == BundleManifest.encodingName,
            manifest.changeColumns == BundleManifest.changeColumnNames
        else {
            throw BundleError(.malformedManifest, "unknown batch encoding '\(manifest.encoding)'", path: name)
        }
        guard Set(manifest.tables.map(\.name)).count == manifest.tables.count else {
            throw BundleError(.malformedManifest, "the manifest lists a table twice", path: name)
        }
        self.manifest = manifest
    }

    /// The next batch, or `nil` after the last one once the batch index has been read and checked.
    ///
    /// - Throws: ``BundleError`` for an unexpected entry, a table the manifest does not list, or counts that
    ///   disagree with the index.
    public func nextBatch() throws -> ChangeBatch? {
        guard index == nil else { return nil }
        guard let entry = try archive.nextEntry() else {
            throw BundleError(.truncated, "the payload ends without its batch index", path: name)
        }
        if entry.path == BatchIndex.entryName {
            try finishIndex(entry)
            return nil
        }
        let prefix = String(format: "batches/%06d.", seen.count + 1)
        guard entry.path.hasPrefix(prefix), entry.path.hasSuffix(".tsv") else {
            throw BundleError(
                .unsafeArchive, "unexpected payload entry '\(entry.path)' (expected \(prefix)TABLE.tsv)", path: name)
        }
        let tableName = String(entry.path.dropFirst(prefix.count).dropLast(4))
        guard let schema = manifest.table(named: tableName) else {
            throw BundleError(
                .malformedManifest, "batch \(entry.path) names table '\(tableName)', which the manifest does not list",
                path: name)
        }
        let bytes = try archive.readEntry(entry)
        let batch = ChangeBatch(schema: schema, entry: entry.path, bytes: bytes, source: name)
        // Every line ends in a newline and escapes any newline inside a value, so lines are rows.
        let rows = bytes.withUnsafeBufferPointer { buffer in buffer.reduce(0) { $0 + ($1 == 10 ? 1 : 0) } }
        seen.append(BatchInfo(entry: entry.path, table: tableName, rows: rows, bytes: bytes.count))
        return batch
    }

    private func finishIndex(_ entry: ArchiveReader.Entry) throws {
        guard entry.size <= 64 << 20 else {
            throw BundleError(.limitExceeded, "the batch index is larger than 64 MiB", path: name)
        }
        let decoded: BatchIndex
        do {
            decoded = try JSONDecoder().decode(BatchIndex.self, from: Data(try archive.readEntry(entry)))
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError(.malformedManifest, "the batch index is not valid: \(error)", path: name)
        }
        guard decoded.batches.count == seen.count else {
            throw BundleError(
                .malformedManifest,
                "the batch index lists \(decoded.batches.count) batches but the payload holds \(seen.count)", path: name)
        }
        for (listed, found) in zip(decoded.batches, seen) {
            guard listed.entry == found.entry, listed.table == found.table, listed.bytes == found.bytes,
                listed.rows == found.rows
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
        index = decoded
    }
}

/// One batch of changes to one table, held as its encoded bytes (at most the entry-size limit) and decoded on demand.
public struct ChangeBatch: Sendable {
    public let schema: TableSchema
    /// The archive entry name.
    public let entry: String
    let bytes: [UInt8]
    let source: String

    /// Uncompressed size of the batch.
    public var byteCount: Int { bytes.count }

    /// Calls `body` with each change in order.
    ///
    /// - Returns: the number of changes.
    /// - Throws: ``BundleError`` with `.malformedBatch` naming the line and column, or whatever `body` throws.
    @discardableResult
    public func forEach(_ body: (Change) throws -> Void) throws -> Int {
        try CopyTextDecoder(schema: schema, source: "\(source) \(entry)").forEach(in: bytes, body)
    }

    /// All changes of the batch.
    public func changes() throws -> [Change] {
        var result: [Change] = []
        try forEach { result.append($0) }
        return result
    }
}

extension ChangeBatch: ChangeBatchSource {}
