import CSodium
import FieldSyncCore
import Foundation

/// Opens the outer layer of a bundle: gathers its parts, checks signature and digests, then decrypts.
///
/// Nothing is decrypted or parsed beyond the signed header and trailer until ``verify(sender:)`` has passed.
final class EnvelopeReader {
    /// The parts, in part order.
    let parts: [PartFile]
    let header: BundleHeader
    private(set) var verified = false

    /// Groups the given part files into one bundle and checks that the set is complete.
    ///
    /// - Parameter paths: one path per part, in any order. Given one part of a split bundle, the other parts are
    ///   looked for in the same directory.
    /// - Throws: ``BundleError`` naming a foreign, duplicated or missing part.
    init(paths: [String], findSiblings: Bool = true) throws {
        guard let firstPath = paths.first else { throw BundleError(.invalidArgument, "no bundle file given") }
        var found: [PartFile] = []
        for path in paths { found.append(try PartFile(path: path)) }
        let first = found[0]
        if findSiblings, found.count < first.trailer.parts {
            let directory = (firstPath as NSString).deletingLastPathComponent
            let given = Set(paths.map { ($0 as NSString).standardizingPath })
            let names =
                (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
            for name in names.sorted() where name.hasSuffix(".fsb") {
                let path = directory.isEmpty ? name : "\(directory)/\(name)"
                guard !given.contains((path as NSString).standardizingPath),
                    let part = try? PartFile(path: path), part.headerBytes == first.headerBytes
                else { continue }
                found.append(part)
            }
        }
        var byIndex: [Int: PartFile] = [:]
        /// Further copies of a part, with the same signed trailer: one of them may be damaged.
        var copies: [Int: [PartFile]] = [:]
        for part in found {
            guard part.headerBytes == first.headerBytes else {
                throw BundleError(
                    .foreignPart,
                    "part belongs to bundle \(part.header.bundleID) from \(part.header.sender), not to bundle "
                        + "\(first.header.bundleID) from \(first.header.sender) (\(first.path))", path: part.path)
            }
            guard part.trailer.parts == first.trailer.parts else {
                throw BundleError(
                    .foreignPart,
                    "part says the bundle has \(part.trailer.parts) parts, but \(first.path) says "
                        + "\(first.trailer.parts)", path: part.path)
            }
            if let existing = byIndex[part.trailer.part] {
                guard existing.trailerBytes == part.trailerBytes, existing.signature == part.signature else {
                    throw BundleError(
                        .duplicatePart,
                        "part \(part.trailer.part) of bundle \(first.header.bundleID) is given twice "
                            + "with different content (also \(existing.path))", path: part.path)
                }
                copies[part.trailer.part, default: [existing]].append(part)
                continue
            }
            byIndex[part.trailer.part] = part
        }
        let count = first.trailer.parts
        let missing = (1...count).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            let list = missing.map { "part \($0) of \(count)" }.joined(separator: ", ")
            throw BundleError(
                .missingPart,
                "bundle \(first.header.bundleID) from \(first.header.sender) is incomplete: missing \(list)",
                path: first.path)
        }
        // Of identical copies, the one whose ciphertext matches its signed digest: a damaged copy found first by
        // name must not make a good copy beside it useless.
        for (number, candidates) in copies.sorted(by: { $0.key < $1.key }) {
            for candidate in candidates {
                guard try Self.digestMatches(candidate) else { continue }
                byIndex[number] = candidate
                break
            }
        }
        parts = (1...count).map { byIndex[$0]! }
        header = first.header
    }

    /// Refuses a newer format version or a required capability this FieldSync lacks.
    static func checkVersion(_ header: HeaderPreamble, path: String) throws {
        guard header.format == BundleHeader.formatName else {
            throw BundleError(
                .notABundle, "not a FieldSync bundle (format '\(Identifier.shown(header.format))')", path: path)
        }
        guard header.version >= 1 else {
            throw BundleError(.notABundle, "bundle format version \(header.version) is not valid", path: path)
        }
        guard header.version <= BundleHeader.currentVersion else {
            throw BundleError(
                .unsupportedVersion,
                "bundle format version \(header.version) is newer than this FieldSync reads "
                    + "(\(BundleHeader.currentVersion)); upgrade FieldSync", path: path)
        }
        let unknown = header.requires.filter { !BundleHeader.knownCapabilities.contains($0) }
        guard unknown.isEmpty else {
            // Read before the signature is checked: quoted short, and at most three of them.
            let named = unknown.prefix(3).map { "'\(Identifier.shown($0))'" }.joined(separator: ", ")
            let more = unknown.count > 3 ? " and \(unknown.count - 3) more" : ""
            throw BundleError(
                .unknownCapability,
                "bundle requires capability \(named)\(more) that this FieldSync does not support; upgrade FieldSync",
                path: path)
        }
    }

    /// Total size of the part files in bytes.
    var totalSize: Int64 { parts.reduce(0) { $0 + $1.size } }

    /// Checks the signature and the ciphertext digest of one part file on its own, without the other parts.
    static func verifyPart(_ part: PartFile, sender: PublicIdentity) throws {
        try checkSender(part.header, sender: sender, path: part.path)
        let message = PartFraming.signedMessage(header: part.headerBytes, trailer: part.trailerBytes)
        guard sender.verify(signature: part.signature, message: message) else {
            throw BundleError(
                .badSignature,
                "bad signature: the header or trailer was altered, or '\(part.header.sender)' did not sign it",
                path: part.path)
        }
        let digest = Digest()
        try hashCiphertext(of: part, into: [digest])
        guard digest.finalHex() == part.trailer.digest else {
            throw BundleError(
                .digestMismatch,
                "part \(part.trailer.part) of \(part.trailer.parts): the ciphertext does not match its "
                    + "signed digest (the file was altered or damaged)", path: part.path)
        }
    }

    /// Whether the ciphertext of `part` matches the digest in its trailer (not yet known to be signed).
    static func digestMatches(_ part: PartFile) throws -> Bool {
        let digest = Digest()
        try hashCiphertext(of: part, into: [digest])
        return digest.finalHex() == part.trailer.digest
    }

    /// Feeds the ciphertext of `part` to every digest in `digests`, in bounded memory.
    static func hashCiphertext(of part: PartFile, into digests: [Digest]) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        try part.file.seek(to: part.ciphertextOffset)
        var remaining = part.ciphertextLength
        while remaining > 0 {
            let want = Int(min(Int64(buffer.count), remaining))
            let got = try buffer.withUnsafeMutableBytes { (raw) throws in
                try part.file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
            }
            guard got == want else {
                throw BundleError(.truncated, "the part changed while it was being read", path: part.path)
            }
            buffer.withUnsafeBytes {
                let slice = UnsafeRawBufferPointer(rebasing: $0[0..<got])
                for digest in digests { digest.update(slice) }
            }
            remaining -= Int64(got)
        }
    }

    /// Refuses a public key that is not the sender's, or of another key epoch.
    static func checkSender(_ header: BundleHeader, sender: PublicIdentity, path: String) throws {
        guard sender.id == header.sender else {
            throw BundleError(
                .unknownSender, "bundle is from '\(header.sender)', but the public key given is for '\(sender.id)'",
                path: path)
        }
        guard sender.epoch == header.keyEpoch else {
            throw BundleError(
                .keyEpoch,
                "bundle was signed with key epoch \(header.keyEpoch) of '\(header.sender)', but the known key is "
                    + "epoch \(sender.epoch)", path: path)
        }
    }

    /// Checks each part's signature against `sender`, then every part's ciphertext digest and the whole digest.
    ///
    /// - Throws: ``BundleError`` with `.unknownSender`/`.keyEpoch` for the wrong key, `.badSignature`, or
    ///   `.digestMismatch` naming the part.
    func verify(sender: PublicIdentity) throws {
        try Self.checkSender(header, sender: sender, path: parts[0].path)
        for part in parts {
            let message = PartFraming.signedMessage(header: part.headerBytes, trailer: part.trailerBytes)
            guard sender.verify(signature: part.signature, message: message) else {
                throw BundleError(
                    .badSignature,
                    "bad signature: the header or trailer was altered, or '\(header.sender)' did not sign it",
                    path: part.path)
            }
        }
        let total = Digest()
        var totalLength: Int64 = 0
        // A lone part's ciphertext is the whole ciphertext: one pass of BLAKE2b gives both digests.
        var loneDigest: String?
        for part in parts {
            let digest = Digest()
            try Self.hashCiphertext(of: part, into: parts.count == 1 ? [digest] : [digest, total])
            totalLength += part.ciphertextLength
            let partDigest = digest.finalHex()
            guard partDigest == part.trailer.digest else {
                throw BundleError(
                    .digestMismatch,
                    "part \(part.trailer.part) of \(parts.count): the ciphertext does not match its signed digest "
                        + "(the file was altered or damaged)", path: part.path)
            }
            if parts.count == 1 { loneDigest = partDigest }
        }
        let totalDigest = loneDigest ?? total.finalHex()
        guard totalLength == parts[0].trailer.totalLength, totalDigest == parts[0].trailer.totalDigest else {
            throw BundleError(
                .digestMismatch, "the parts together do not match the signed digest of the whole bundle",
                path: parts[0].path)
        }
        verified = true
    }

    /// Unwraps the content key with the recipient's keys and returns the decrypting plaintext stream.
    ///
    /// Must follow a successful ``verify(sender:)``.
    func open(recipient keys: NodeKeys) throws -> PlaintextStream {
        precondition(verified, "verify(sender:) must succeed before a bundle is decrypted")
        guard keys.id == header.recipient else {
            throw BundleError(
                .wrongRecipient, "bundle is addressed to '\(header.recipient)', not to '\(keys.id)'",
                path: parts[0].path)
        }
        guard keys.epoch == header.recipientKeyEpoch else {
            throw BundleError(
                .wrongRecipient,
                "bundle was encrypted to key epoch \(header.recipientKeyEpoch) of '\(header.recipient)', "
                    + "but this key is epoch \(keys.epoch)", path: parts[0].path)
        }
        guard
            let sealed = Base64.decode(
                header.contentKey,
                count: Int(crypto_secretstream_xchacha20poly1305_keybytes()) + Int(crypto_box_sealbytes()))
        else {
            throw BundleError(.notABundle, "the wrapped content key is malformed", path: parts[0].path)
        }
        let contentKey: SecureBytes
        do {
            contentKey = try keys.openSealed(sealed, count: Int(crypto_secretstream_xchacha20poly1305_keybytes()))
        } catch {
            throw (error as? BundleError)?.at(parts[0].path) ?? error
        }
        return try PlaintextStream(parts: parts, key: contentKey, chunkSize: header.chunkSize)
    }
}

/// Decrypts the ciphertext of all parts, chunk by chunk, in bounded memory.
///
/// Rejects a stream that ends before a FINAL-tagged chunk (truncated), any byte after it (trailing data), and any
/// chunk that fails authentication (tampered chunk N).
///
/// One ciphertext and one plaintext buffer serve every chunk, and the plaintext is handed out in place
/// (``next(upTo:)``) rather than copied. Parts are read at explicit offsets, so the stream shares its file
/// descriptors safely with the reader that verified them. Not thread-safe: one thread uses a stream at a time.
final class PlaintextStream {
    private let parts: [PartFile]
    private var partIndex = 0
    /// Where the next ciphertext byte is read in the current part, and how many of its bytes are left.
    private var partOffset: Int64
    private var remainingInPart: Int64
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private let cipherChunk: UnsafeMutableRawBufferPointer
    /// The current chunk's plaintext is `plaintext[chunkOffset ..< chunkLength]` not yet handed out.
    private let plaintext: UnsafeMutableRawBufferPointer
    private var chunkLength = 0
    private var chunkOffset = 0
    private var chunkNumber = 0
    private(set) var finished = false
    /// Ciphertext bytes consumed so far.
    private(set) var ciphertextConsumed: Int64 = 0

    init(parts: [PartFile], key: SecureBytes, chunkSize: Int) throws {
        guard (1024...(1 << 24)).contains(chunkSize) else {
            throw BundleError(.notABundle, "chunk size \(chunkSize) is outside the allowed range", path: parts[0].path)
        }
        self.parts = parts
        partOffset = parts[0].ciphertextOffset
        remainingInPart = parts[0].ciphertextLength
        cipherChunk = .allocate(
            byteCount: chunkSize + Int(crypto_secretstream_xchacha20poly1305_abytes()), alignment: 16)
        plaintext = .allocate(byteCount: chunkSize, alignment: 16)
        var streamHeader = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_headerbytes()))
        let got = try streamHeader.withUnsafeMutableBytes { (raw) throws in try readCiphertext(into: raw) }
        guard got == streamHeader.count else {
            throw BundleError(.truncated, "the bundle is truncated: no encryption header", path: parts[0].path)
        }
        let result = key.withBytes { keyBytes in
            crypto_secretstream_xchacha20poly1305_init_pull(
                &state, streamHeader,
                keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard result == 0 else {
            throw BundleError(.tamperedChunk, "the encryption header is invalid", path: parts[0].path)
        }
    }

    deinit {
        cipherChunk.deallocate()
        plaintext.deallocate()
    }

    /// Up to `limit` plaintext bytes, in place: valid until the next call. Empty only at the authenticated end of
    /// the stream.
    func next(upTo limit: Int) throws -> UnsafeRawBufferPointer {
        while chunkOffset == chunkLength {
            guard try nextChunk() else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        }
        let count = min(limit, chunkLength - chunkOffset)
        defer { chunkOffset += count }
        return UnsafeRawBufferPointer(start: plaintext.baseAddress! + chunkOffset, count: count)
    }

    /// Decrypts the next chunk (it may be empty); returns false once the FINAL chunk has been read.
    func nextChunk() throws -> Bool {
        chunkLength = 0
        chunkOffset = 0
        if finished { return false }
        let got = try readCiphertext(into: cipherChunk)
        chunkNumber += 1
        let path = parts[min(partIndex, parts.count - 1)].path
        guard got > Int(crypto_secretstream_xchacha20poly1305_abytes()) - 1 else {
            throw BundleError(
                .truncated,
                "the bundle is truncated: the encrypted stream ends before its final chunk "
                    + "(chunk \(chunkNumber) missing)", path: path)
        }
        var tag: UInt8 = 0
        var length: UInt64 = 0
        let result = crypto_secretstream_xchacha20poly1305_pull(
            &state, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, &tag,
            cipherChunk.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(got), nil, 0)
        guard result == 0 else {
            throw BundleError(
                .tamperedChunk, "chunk \(chunkNumber) failed authentication: the bundle was altered or damaged",
                path: path)
        }
        chunkLength = Int(length)
        // Only MESSAGE chunks, then one FINAL: a PUSH or REKEY tag means something to some readers and nothing to
        // others, so it is refused rather than read past.
        guard
            tag == crypto_secretstream_xchacha20poly1305_tag_message()
                || tag == crypto_secretstream_xchacha20poly1305_tag_final()
        else {
            throw BundleError(
                .malformedStream,
                "chunk \(chunkNumber) carries secretstream tag \(Self.tagName(tag)); a bundle uses only MESSAGE "
                    + "chunks and one FINAL chunk", path: path)
        }
        if tag == crypto_secretstream_xchacha20poly1305_tag_final() {
            finished = true
            var probe: UInt8 = 0
            let extra = try withUnsafeMutableBytes(of: &probe) { (raw) throws in try readCiphertext(into: raw) }
            guard extra == 0 else {
                throw BundleError(
                    .trailingData, "encrypted data follows the final chunk (chunk \(chunkNumber))", path: path)
            }
        }
        return true
    }

    /// The libsodium name of a secretstream tag.
    static func tagName(_ tag: UInt8) -> String {
        switch tag {
        case crypto_secretstream_xchacha20poly1305_tag_push(): "PUSH (\(tag))"
        case crypto_secretstream_xchacha20poly1305_tag_rekey(): "REKEY (\(tag))"
        default: "\(tag)"
        }
    }

    /// Reads ciphertext across part boundaries; fills `buffer` unless the ciphertext ends.
    private func readCiphertext(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count && partIndex < parts.count {
            if remainingInPart == 0 {
                partIndex += 1
                guard partIndex < parts.count else { break }
                partOffset = parts[partIndex].ciphertextOffset
                remainingInPart = parts[partIndex].ciphertextLength
                continue
            }
            let want = Int(min(Int64(buffer.count - total), remainingInPart))
            let got = try parts[partIndex].file.read(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[total..<total + want]), at: partOffset)
            guard got == want else {
                throw BundleError(.truncated, "the part changed while it was being read", path: parts[partIndex].path)
            }
            total += got
            partOffset += Int64(got)
            remainingInPart -= Int64(got)
        }
        ciphertextConsumed += Int64(total)
        return total
    }
}
