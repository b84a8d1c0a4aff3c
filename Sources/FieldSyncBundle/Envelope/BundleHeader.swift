import Foundation

/// What a bundle is for.
public enum BundleKind: String, Sendable, Codable, CaseIterable {
    /// A site's changes since the hub last acknowledged it.
    case delta
    /// A full copy of the tables in scope (a first load).
    case snapshot
    /// The hub's reply to a site: its changes in scope, acknowledgements and conflict outcomes.
    case `return`
}

/// The signed, unencrypted header of a bundle: who sent it to whom, in which order, and how to open it.
///
/// It is stored as UTF-8 JSON at the front of every part file. The signature covers its exact bytes, so a reader
/// never has to re-encode it.
public struct BundleHeader: Sendable, Codable, Equatable {
    /// Always `fieldsync-bundle`.
    public var format: String
    /// The format version; this FieldSync writes and reads 1.
    public var version: Int
    /// Capabilities a reader must have to open the payload; unknown ones are refused.
    public var requires: [String]
    /// A random UUID naming this bundle.
    public var bundleID: String
    public var kind: BundleKind
    public var sender: String
    public var recipient: String
    /// The sender's sequence number for bundles to this recipient: 1, 2, 3, …
    public var sequence: UInt64
    /// Epoch of the sender's signing key.
    public var keyEpoch: UInt32
    /// Epoch of the recipient's encryption key the content key was sealed to.
    public var recipientKeyEpoch: UInt32
    /// Positions this bundle builds on, by name (for example `acknowledged`, the last sequence the sender has
    /// applied from the recipient). Documented in `docs/bundle-format.md`.
    public var prerequisites: [String: Int64]
    /// When the sender wrote the bundle, by its own clock (RFC 3339, UTC). Clocks lie: never order bundles by
    /// it. The hub uses it only to estimate how far a site's clock is off, to correct the site's edit times.
    public var created: String
    /// Plaintext bytes per secretstream chunk (the last chunk may be shorter).
    public var chunkSize: Int
    /// The random per-bundle content key, sealed to the recipient's X25519 key (`crypto_box_seal`), base64.
    public var contentKey: String

    enum CodingKeys: String, CodingKey {
        case format, version, requires, bundleID = "bundle_id", kind, sender, recipient, sequence
        case keyEpoch = "key_epoch", recipientKeyEpoch = "recipient_key_epoch", prerequisites, created
        case chunkSize = "chunk_size", contentKey = "content_key"
    }

    /// The format name in every header.
    public static let formatName = "fieldsync-bundle"
    /// The format version this FieldSync writes; it reads this and older.
    public static let currentVersion = 1
    /// Capabilities this FieldSync understands.
    public static let knownCapabilities: Set<String> = ["payload-tar-zstd", "batch-copy-text-1", "batch-changed-at"]
    /// Capabilities every bundle written by this FieldSync requires. `batch-changed-at`: batch lines carry the
    /// seventh change column `changed_at`, which a reader that knows only six would misread.
    public static let writtenCapabilities = ["payload-tar-zstd", "batch-copy-text-1", "batch-changed-at"]
}

/// The signed trailer at the end of each part file: which part it is, and digests of the ciphertext.
struct BundleTrailer: Codable, Equatable {
    /// 1-based index of this part.
    var part: Int
    /// How many parts the bundle has.
    var parts: Int
    /// Ciphertext bytes in this part.
    var length: Int64
    /// BLAKE2b-256 of this part's ciphertext, hex.
    var digest: String
    /// Ciphertext bytes in all parts together.
    var totalLength: Int64
    /// BLAKE2b-256 of the whole ciphertext (all parts in order), hex.
    var totalDigest: String

    enum CodingKeys: String, CodingKey {
        case part, parts, length, digest, totalLength = "total_length", totalDigest = "total_digest"
    }
}

/// Fixed framing of a part file.
enum PartFraming {
    static let startMagic = Array("FSBUNDLE".utf8)
    static let endMagic = Array("FSBTRAIL".utf8)
    /// Domain separation for the signed message, so a FieldSync signature means nothing elsewhere.
    static let signatureDomain = Array("FieldSync bundle v1\0".utf8)
    static let signatureSize = 64
    /// Bytes after the trailer JSON: trailer length, signature, end magic.
    static let tailSize = 4 + signatureSize + 8
    /// Largest header or trailer accepted.
    static let maxJSONSize = 65536
    /// Most parts a bundle may have (10,000 parts of 4 GB is 40 TB).
    static let maxParts = 10_000

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func readBigEndian(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The bytes the sender signs: domain, then length-prefixed header and trailer.
    static func signedMessage(header: [UInt8], trailer: [UInt8]) -> [UInt8] {
        signatureDomain + bigEndian(UInt32(header.count)) + header + bigEndian(UInt32(trailer.count)) + trailer
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension BundleHeader {
    /// Highest `sequence` a bundle may carry: stores keep sequences as signed 64-bit integers.
    static let maxSequence = UInt64(Int64.max)

    /// Refuses numbers the format does not allow, naming the field: a `sequence` outside 1 … 2^63 − 1 (every store
    /// keeps it as a signed 64-bit integer), or a `chunk_size` outside 1,024 … 16,777,216.
    ///
    /// The JSON reader has already refused anything that is not an integer literal, and any value that does not
    /// fit the field's type (`key_epoch` and `recipient_key_epoch` in 32 bits, `prerequisites` in 64 signed bits).
    func checkNumbers(path: String?) throws {
        guard (1...Self.maxSequence).contains(sequence) else {
            throw BundleError(
                .notABundle,
                "the bundle header's field 'sequence' is \(sequence); it must be from 1 to \(Self.maxSequence)",
                path: path)
        }
        guard Self.chunkSizes.contains(chunkSize) else {
            throw BundleError(
                .notABundle,
                "the bundle header's field 'chunk_size' is \(chunkSize); it must be from \(Self.chunkSizes.lowerBound) "
                    + "to \(Self.chunkSizes.upperBound)", path: path)
        }
    }

    /// The plaintext bytes a secretstream chunk may hold.
    static let chunkSizes = 1024...(1 << 24)

    /// The header's integer fields whose range is narrower than their type's, as the JSON reader checks them.
    static let integerRanges: [String: ClosedRange<Int64>] = [
        "sequence": 1...Int64.max,
        "chunk_size": Int64(chunkSizes.lowerBound)...Int64(chunkSizes.upperBound),
    ]
}
