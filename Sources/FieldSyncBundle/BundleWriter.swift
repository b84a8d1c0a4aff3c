import FieldSyncCore
import Foundation
import Logging

/// Writes a bundle from a stream of changes, in bounded memory.
///
/// Changes are appended table by table; they are encoded into batches of at most
/// ``Configuration/batchSize`` bytes, each batch becomes one archive entry, and the archive is compressed,
/// encrypted and split into parts as it is produced. Nothing is visible under the final file names until
/// ``finish()`` succeeds.
///
/// ```swift
/// let writer = try BundleWriter(configuration: .init(kind: .delta, sequence: 7, directory: "outbox"),
///                               tables: schemas, sender: siteKeys, recipient: hubIdentity, logger: logger)
/// try writer.append(change, to: "beneficiaries")
/// let bundle = try writer.finish()
/// ```
public final class BundleWriter {
    /// How a bundle is written.
    public struct Configuration: Sendable {
        public var kind: BundleKind
        /// The sender's sequence number for bundles to this recipient.
        public var sequence: UInt64
        /// Positions the bundle builds on; see ``BundleHeader/prerequisites``.
        public var prerequisites: [String: Int64]
        /// Bookkeeping carried in the encrypted manifest; see ``BundleManifest/properties``.
        public var properties: [String: String]
        /// Where the part files go.
        public var directory: String
        /// File name without extension; default `SENDER-to-RECIPIENT-SEQUENCE` (sequence zero-padded to 8 digits).
        public var baseName: String?
        /// Largest part file, in bytes. Default 4,000,000,000: below FAT32's 4 GiB limit.
        public var partSizeLimit: Int64
        /// Target uncompressed size of one batch entry. Default 8 MiB.
        public var batchSize: Int
        /// Plaintext bytes per encrypted chunk. Default 64 KiB.
        public var chunkSize: Int
        /// zstd level. Default 3.
        public var compressionLevel: Int
        /// zstd worker threads; 1 compresses on the calling thread. Default 1.
        public var compressionThreads: Int
        /// The time the header's `created` states; default `nil`, the sender's clock now. Tests set it to write
        /// a bundle as a node whose clock is wrong would.
        public var created: Date?

        public init(
            kind: BundleKind, sequence: UInt64, prerequisites: [String: Int64] = [:],
            properties: [String: String] = [:], directory: String, baseName: String? = nil,
            partSizeLimit: Int64 = 4_000_000_000, batchSize: Int = 8 << 20, chunkSize: Int = 64 << 10,
            compressionLevel: Int = 3, compressionThreads: Int = 1, created: Date? = nil
        ) {
            self.kind = kind
            self.sequence = sequence
            self.prerequisites = prerequisites
            self.properties = properties
            self.directory = directory
            self.baseName = baseName
            self.partSizeLimit = partSizeLimit
            self.batchSize = batchSize
            self.chunkSize = chunkSize
            self.compressionLevel = compressionLevel
            self.compressionThreads = compressionThreads
            self.created = created
        }
    }

    /// What was written.
    public struct Result: Sendable {
        public var header: BundleHeader
        /// Part files in part order; one path for an unsplit bundle.
        public var paths: [String]
        public var index: BatchIndex
        /// Total bytes of all part files.
        public var bytes: Int64
    }

    /// The part sizes a person may ask for: from 8 KiB (room for the header, the trailer and some ciphertext) to
    /// 1 TiB. The writer also refuses a limit too small for a bundle's header, and a bundle that would need more
    /// than 10,000 parts.
    public static let partSizeRange: ClosedRange<Int64> = (8 << 10)...(1 << 40)

    private let configuration: Configuration
    private let manifest: BundleManifest
    private let envelope: EnvelopeWriter
    private var archive: ArchiveWriter!
    private let logger: Logger
    private var encoders: [String: CopyTextEncoder] = [:]
    private var current: (encoder: CopyTextEncoder, info: BatchInfo)?
    private var buffer: [UInt8] = []
    private var batches: [BatchInfo] = []
    private var rows = 0

    /// Starts a bundle from `sender` to `recipient` that may carry changes to `tables`.
    ///
    /// - Throws: ``BundleError`` if the directory cannot be written or an argument is out of range.
    public init(
        configuration: Configuration, tables: [TableSchema], sender: NodeKeys, recipient: PublicIdentity,
        logger: Logger = Logger(label: "fieldsync.bundle")
    ) throws {
        guard Set(tables.map(\.name)).count == tables.count else {
            throw BundleError(.invalidArgument, "a table is listed twice in the bundle's tables")
        }
        self.configuration = configuration
        self.logger = logger
        let baseName =
            configuration.baseName
            ?? "\(sender.id)-to-\(recipient.id)-\(String(format: "%08llu", configuration.sequence))"
        envelope = try EnvelopeWriter(
            kind: configuration.kind, keys: sender, recipient: recipient, sequence: configuration.sequence,
            prerequisites: configuration.prerequisites,
            configuration: .init(
                directory: configuration.directory, baseName: baseName,
                partSizeLimit: configuration.partSizeLimit, chunkSize: configuration.chunkSize,
                created: configuration.created))
        manifest = BundleManifest(
            format: BundleManifest.formatName, version: 1, bundleID: envelope.header.bundleID,
            kind: configuration.kind, sender: sender.id, recipient: recipient.id,
            encoding: BundleManifest.encodingName, changeColumns: BundleManifest.changeColumnNames, tables: tables,
            properties: configuration.properties)
        for table in tables { encoders[table.name] = CopyTextEncoder(schema: table) }
        let envelope = self.envelope
        archive = try ArchiveWriter(
            compressionLevel: configuration.compressionLevel, threads: configuration.compressionThreads
        ) { (bytes) throws in
            try envelope.write(bytes)
        }
        try archive.addEntry(path: BundleManifest.entryName, bytes: try Self.json(manifest))
        buffer.reserveCapacity(configuration.batchSize + (64 << 10))
    }

    /// The signed header this bundle will carry.
    public var header: BundleHeader { envelope.header }

    /// Appends one change to `table`'s current batch, starting a new batch when the table changes or the batch is full.
    ///
    /// - Throws: ``BundleError`` if the table is not among the bundle's tables or a value cannot be carried.
    public func append(_ change: Change, to table: String) throws {
        if current?.info.table != table {
            try flushBatch()
            guard let encoder = encoders[table] else {
                throw BundleError(.invalidArgument, "table '\(table)' is not among the bundle's tables")
            }
            current = (
                encoder,
                BatchInfo(
                    entry: String(format: "batches/%06d.%@.tsv", batches.count + 1, table), table: table, rows: 0,
                    bytes: 0)
            )
        }
        let before = buffer.count
        try current!.encoder.append(change, to: &buffer)
        if buffer.count > Self.maxBatchBytes {
            let rowBytes = buffer.count - before
            buffer.removeSubrange(before...)
            if current!.info.rows > 0 && rowBytes <= Self.maxBatchBytes {
                // The batch is full: close it and put this row at the start of the next one.
                try flushBatch()
                try append(change, to: table)
                return
            }
            throw BundleError(
                .invalidArgument,
                "table '\(table)': change \(change.origin)#\(change.originSequence) takes \(rowBytes) bytes encoded, "
                    + "more than the \(Self.maxBatchBytes) a batch may hold")
        }
        current!.info.rows += 1
        if current!.info.originSequence == nil {
            current!.info.originSequence = PositionRange(min: change.originSequence, max: change.originSequence)
        } else {
            current!.info.originSequence!.include(change.originSequence)
        }
        if let version = change.version {
            if current!.info.version == nil {
                current!.info.version = PositionRange(min: version, max: version)
            } else {
                current!.info.version!.include(version)
            }
        }
        rows += 1
        if buffer.count >= configuration.batchSize { try flushBatch() }
    }

    /// Writes the last batch and the batch index, closes the archive, encrypts the final chunk and signs every part.
    public func finish() throws -> Result {
        try flushBatch()
        let index = BatchIndex(batches: batches, rows: rows)
        try archive.addEntry(path: BatchIndex.entryName, bytes: try Self.json(index))
        try archive.finish()
        let paths = try envelope.finish()
        var bytes: Int64 = 0
        for path in paths {
            let file = try FileDescriptor.openForReading(path)
            bytes += try file.size()
        }
        logger.debug(
            "bundle written",
            metadata: [
                "fieldsync.bundle.id": "\(header.bundleID)", "fieldsync.bundle.rows": "\(rows)",
                "fieldsync.bundle.bytes": "\(bytes)", "fieldsync.bundle.parts": "\(paths.count)",
            ])
        return Result(header: header, paths: paths, index: index, bytes: bytes)
    }

    /// Abandons the bundle and removes its partial files.
    public func abort() {
        envelope.abort()
    }

    private func flushBatch() throws {
        guard var batch = current else { return }
        current = nil
        guard batch.info.rows > 0 else { return }
        batch.info.bytes = buffer.count
        try archive.addEntry(path: batch.info.entry, bytes: buffer)
        batches.append(batch.info)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Largest batch entry written; readers refuse entries over ``ArchiveLimits/default``'s 64 MiB.
    static let maxBatchBytes = 60 << 20

    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            return try Array(PartFraming.encoder().encode(value))
        } catch {
            throw BundleError(.invalidArgument, "cannot encode \(T.self) as JSON", underlying: error)
        }
    }
}
