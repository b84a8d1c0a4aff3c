import FieldSyncCore
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
///
/// The next batch is decrypted, decompressed and unpacked on a background thread while the caller decodes the
/// current one; at most that one batch is held ahead. Errors still surface in payload order, from the
/// ``nextBatch()`` call that reaches them.
public final class BundleContents {
    /// The payload's manifest: tables and their schemas.
    public let manifest: BundleManifest
    /// The batch index, available once ``nextBatch()`` has returned `nil`.
    public private(set) var index: BatchIndex?

    private let prefetcher: Prefetcher<PayloadReader.Step>

    init(header: BundleHeader, stream: PlaintextStream, name: String, limits: ArchiveLimits) throws {
        let payload = try PayloadReader(header: header, stream: stream, name: name, limits: limits)
        manifest = payload.manifest
        // From here on only the prefetch thread uses `payload` (and through it the archive and the stream).
        prefetcher = Prefetcher(name: "fieldsync.bundle.prefetch") { try payload.next() }
    }

    deinit {
        // A caller that stops early leaves no thread behind and no read in flight.
        prefetcher.stop()
    }

    /// The next batch, or `nil` after the last one once the batch index has been read and checked.
    ///
    /// After an error, every later call throws the same error.
    ///
    /// - Throws: ``BundleError`` for an unexpected entry, a table the manifest does not list, or counts that
    ///   disagree with the index.
    public func nextBatch() throws -> ChangeBatch? {
        switch try prefetcher.next() {
        case .batch(let batch):
            return batch
        case .end(let index):
            self.index = index
            return nil
        case nil:
            return nil
        }
    }
}

/// One batch of changes to one table, held as its encoded bytes (at most the entry-size limit) and decoded on demand.
public struct ChangeBatch: Sendable {
    public let schema: TableSchema
    /// The archive entry name.
    public let entry: String
    /// The encoded bytes; the reader reuses the storage for a later batch once no batch refers to it.
    let storage: BatchStorage
    let source: String
    /// The length of the manifest's `change_columns`: 7, or 6 in bundles without edit times.
    let changeColumnCount: Int

    /// Uncompressed size of the batch.
    public var byteCount: Int { storage.count }

    /// Calls `body` with each change in order.
    ///
    /// - Returns: the number of changes.
    /// - Throws: ``BundleError`` with `.malformedBatch` naming the line and column, or whatever `body` throws.
    @discardableResult
    public func forEach(_ body: (Change) throws -> Void) throws -> Int {
        try CopyTextDecoder(schema: schema, source: "\(source) \(entry)", changeColumnCount: changeColumnCount)
            .forEach(in: storage.bytes, body)
    }

    /// All changes of the batch.
    public func changes() throws -> [Change] {
        var result: [Change] = []
        try forEach { result.append($0) }
        return result
    }
}

extension ChangeBatch: ChangeBatchSource {}
