import CSodium
import FieldSyncCore
import Foundation

/// Writes the outer layer of a bundle: a byte stream encrypted with secretstream under a fresh content key,
/// signed by the sender, split into part files no larger than a limit.
///
/// Part files are written under a `.part` suffix and renamed only when complete, so a reader never sees a
/// half-written bundle.
final class EnvelopeWriter {
    struct Configuration {
        var directory: String
        var baseName: String
        var partSizeLimit: Int64
        var chunkSize: Int
        /// The header's `created`; `nil` is now.
        var created: Date? = nil
    }

    private struct Part {
        var tempPath: String
        var file: FileDescriptor
        var length: Int64 = 0
        let digest = Digest()
    }

    let header: BundleHeader
    private let headerBytes: [UInt8]
    private let keys: NodeKeys
    private let configuration: Configuration
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private var plaintext: [UInt8]
    private var ciphertext: [UInt8]
    private var parts: [Part] = []
    /// The digest of all ciphertext, kept only once a second part opens: until then it equals the first part's
    /// digest, and hashing every byte twice would cost a second BLAKE2b pass over the whole bundle.
    private var totalDigest: Digest?
    private var totalLength: Int64 = 0
    private let partCapacity: Int64
    private var finished = false

    /// Starts a bundle: draws a content key, seals it to `recipient`, writes the first part's header.
    init(
        kind: BundleKind, keys: NodeKeys, recipient: PublicIdentity, sequence: UInt64,
        prerequisites: [String: Int64], configuration: Configuration, bundleID: String? = nil
    ) throws {
        try Sodium.ensureInitialised()
        guard (1024...(1 << 24)).contains(configuration.chunkSize) else {
            throw BundleError(.invalidArgument, "chunk size must be between 1 KiB and 16 MiB")
        }
        guard (1...BundleHeader.maxSequence).contains(sequence) else {
            throw BundleError(
                .invalidArgument, "bundle sequence \(sequence) is outside 1 … \(BundleHeader.maxSequence)")
        }
        self.keys = keys
        self.configuration = configuration
        let contentKey = try SecureBytes(count: Int(crypto_secretstream_xchacha20poly1305_keybytes()))
        contentKey.withMutableBytes {
            crypto_secretstream_xchacha20poly1305_keygen($0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let sealed = try recipient.seal(contentKey)
        header = BundleHeader(
            format: BundleHeader.formatName, version: BundleHeader.currentVersion,
            requires: BundleHeader.writtenCapabilities, bundleID: bundleID ?? UUID().uuidString.lowercased(),
            kind: kind,
            sender: keys.id, recipient: recipient.id, sequence: sequence, keyEpoch: keys.epoch,
            recipientKeyEpoch: recipient.epoch, prerequisites: prerequisites,
            created: ISO8601DateFormatter().string(from: configuration.created ?? Date()),
            chunkSize: configuration.chunkSize,
            contentKey: Base64.encode(sealed))
        do {
            headerBytes = try Array(PartFraming.encoder().encode(header))
        } catch {
            throw BundleError(.invalidArgument, "cannot encode the bundle header", underlying: error)
        }
        // Compared before subtracting: the limit comes from a configuration file and may be anything.
        let overhead = Int64(8 + 4 + headerBytes.count + PartFraming.tailSize + 1024)
        guard configuration.partSizeLimit >= overhead + 4096 else {
            throw BundleError(
                .invalidArgument,
                "part size limit \(configuration.partSizeLimit) bytes is too small for this bundle: its header and "
                    + "trailer need at least \(overhead + 4096)")
        }
        partCapacity = configuration.partSizeLimit - overhead
        plaintext = []
        plaintext.reserveCapacity(configuration.chunkSize)
        ciphertext = [UInt8](
            repeating: 0,
            count: configuration.chunkSize + Int(crypto_secretstream_xchacha20poly1305_abytes()))
        var streamHeader = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_headerbytes()))
        let result = contentKey.withBytes { key in
            crypto_secretstream_xchacha20poly1305_init_push(
                &state, &streamHeader,
                key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        try Sodium.check(result, "crypto_secretstream_xchacha20poly1305_init_push")
        try emit(streamHeader)
    }

    deinit {
        if !finished { abort() }
    }

    /// Adds plaintext; full chunks are encrypted and written as they fill.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        let chunkSize = configuration.chunkSize
        while offset < bytes.count {
            let take = min(chunkSize - plaintext.count, bytes.count - offset)
            plaintext.append(contentsOf: bytes[offset..<offset + take])
            offset += take
            if plaintext.count == chunkSize {
                try pushChunk(final: false)
            }
        }
    }

    /// Encrypts the last chunk (tagged FINAL), writes every part's signed trailer, syncs and renames the parts.
    ///
    /// - Returns: the final paths of the part files, in part order.
    func finish() throws -> [String] {
        try pushChunk(final: true)
        let partDigests = parts.map { $0.digest.finalHex() }
        let digest = totalDigest?.finalHex() ?? partDigests[0]
        var paths: [String] = []
        for index in parts.indices {
            let trailer = BundleTrailer(
                part: index + 1, parts: parts.count, length: parts[index].length,
                digest: partDigests[index], totalLength: totalLength, totalDigest: digest)
            let trailerBytes: [UInt8]
            do {
                trailerBytes = try Array(PartFraming.encoder().encode(trailer))
            } catch {
                throw BundleError(.invalidArgument, "cannot encode the bundle trailer", underlying: error)
            }
            let signature = try keys.sign(PartFraming.signedMessage(header: headerBytes, trailer: trailerBytes))
            let file = parts[index].file
            try file.write(
                trailerBytes + PartFraming.bigEndian(UInt32(trailerBytes.count)) + signature + PartFraming.endMagic)
            try file.sync()
            try file.close()
            let name =
                parts.count == 1
                ? "\(configuration.baseName).fsb" : "\(configuration.baseName).\(index + 1)-of-\(parts.count).fsb"
            paths.append("\(configuration.directory)/\(name)")
        }
        for (part, path) in zip(parts, paths) {
            try FileSystem.rename(part.tempPath, to: path)
        }
        FileSystem.syncDirectory(configuration.directory)
        finished = true
        return paths
    }

    /// Removes every part written so far.
    func abort() {
        for part in parts {
            try? part.file.close()
            FileSystem.remove(part.tempPath)
        }
        parts = []
        finished = true
    }

    private func pushChunk(final: Bool) throws {
        var written: UInt64 = 0
        let tag =
            final
            ? crypto_secretstream_xchacha20poly1305_tag_final() : crypto_secretstream_xchacha20poly1305_tag_message()
        let result = plaintext.withUnsafeBufferPointer { message in
            crypto_secretstream_xchacha20poly1305_push(
                &state, &ciphertext, &written, message.baseAddress,
                UInt64(message.count), nil, 0, tag)
        }
        try Sodium.check(result, "crypto_secretstream_xchacha20poly1305_push")
        plaintext.removeAll(keepingCapacity: true)
        try ciphertext.withUnsafeBytes { (buffer) throws in
            try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(written)]))
        }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer) throws in try emit(buffer) }
    }

    /// Appends ciphertext, opening a new part whenever the current one is full.
    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            if parts.isEmpty || parts[parts.count - 1].length >= partCapacity {
                try openPart()
            }
            let last = parts.count - 1
            let take = Int(min(Int64(bytes.count - offset), partCapacity - parts[last].length))
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take])
            try parts[last].file.write(slice)
            parts[last].digest.update(slice)
            totalDigest?.update(slice)
            parts[last].length += Int64(take)
            totalLength += Int64(take)
            offset += take
        }
    }

    private func openPart() throws {
        if parts.count == 1 {
            // The first part is complete: the total digest so far is its digest; carry it on from there.
            totalDigest = Digest(copying: parts[0].digest)
        }
        guard parts.count < PartFraming.maxParts else {
            throw BundleError(
                .invalidArgument,
                "the bundle needs more than \(PartFraming.maxParts) parts of at most \(configuration.partSizeLimit) "
                    + "bytes, more than a reader accepts; write it with a larger part size",
                path: configuration.directory)
        }
        let tempPath = "\(configuration.directory)/\(configuration.baseName).\(parts.count + 1).fsb.part"
        let file = try FileDescriptor.create(tempPath, exclusive: false)
        parts.append(Part(tempPath: tempPath, file: file))
        try file.write(PartFraming.startMagic + PartFraming.bigEndian(UInt32(headerBytes.count)) + headerBytes)
    }
}
