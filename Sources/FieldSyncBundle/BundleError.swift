/// Why a bundle could not be written, checked or read.
///
/// The message names the file, part, chunk, entry, table or row at fault so that an operator can act on it.
/// It never contains row data or key material.
public struct BundleError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members. New codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case io, notABundle, truncated, trailingData, badSignature, unknownSender, wrongRecipient, keyEpoch
            case unsupportedVersion, unknownCapability, digestMismatch, tamperedChunk, missingPart, foreignPart
            case duplicatePart, senderMismatch, unsafeArchive, limitExceeded, malformedManifest, malformedBatch
            case invalidKey, invalidArgument, crypto, archive, malformedStream
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A file could not be opened, read, written or renamed.
        public static let io = Code(.io)
        /// The file does not start with the bundle magic or its framing is broken.
        public static let notABundle = Code(.notABundle)
        /// The bundle ends before its final chunk or before its trailer.
        public static let truncated = Code(.truncated)
        /// Bytes follow the final chunk.
        public static let trailingData = Code(.trailingData)
        /// The sender's signature does not verify.
        public static let badSignature = Code(.badSignature)
        /// No public key is known for the sender.
        public static let unknownSender = Code(.unknownSender)
        /// The bundle is encrypted to another node.
        public static let wrongRecipient = Code(.wrongRecipient)
        /// The bundle was signed with a key epoch other than the one known for the sender.
        public static let keyEpoch = Code(.keyEpoch)
        /// The format version is newer than this FieldSync reads.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The bundle requires a capability this FieldSync does not have.
        public static let unknownCapability = Code(.unknownCapability)
        /// The ciphertext does not match the signed digest.
        public static let digestMismatch = Code(.digestMismatch)
        /// A chunk failed authentication.
        public static let tamperedChunk = Code(.tamperedChunk)
        /// An authentic chunk carries a secretstream tag the format does not use (only MESSAGE, then one FINAL).
        public static let malformedStream = Code(.malformedStream)
        /// A part of a split bundle is missing.
        public static let missingPart = Code(.missingPart)
        /// A part belongs to another bundle.
        public static let foreignPart = Code(.foreignPart)
        /// The same part was given twice with different content.
        public static let duplicatePart = Code(.duplicatePart)
        /// The sender named inside the encrypted manifest is not the signer.
        public static let senderMismatch = Code(.senderMismatch)
        /// The archive holds a link, a path outside the bundle or an entry FieldSync did not write.
        public static let unsafeArchive = Code(.unsafeArchive)
        /// An entry count, entry size or expansion-ratio limit was exceeded.
        public static let limitExceeded = Code(.limitExceeded)
        /// The manifest or summary is not what the format requires.
        public static let malformedManifest = Code(.malformedManifest)
        /// A change batch cannot be decoded.
        public static let malformedBatch = Code(.malformedBatch)
        /// A key file or public identity cannot be used.
        public static let invalidKey = Code(.invalidKey)
        /// A caller passed a value the format cannot carry.
        public static let invalidArgument = Code(.invalidArgument)
        /// libsodium reported a failure.
        public static let crypto = Code(.crypto)
        /// libarchive reported a failure.
        public static let archive = Code(.archive)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, in words an operator can act on.
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, path: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }

    /// The same error, attributed to `path` unless it already names a file.
    func at(_ path: String) -> BundleError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }
}
