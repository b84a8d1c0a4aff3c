import CSodium
import FieldSyncCore
import Foundation

/// A node's public identity: its id, key epoch, Ed25519 verification key and X25519 encryption key.
///
/// It is written as one copy-pasteable line, `fieldsync1:ID:EPOCH:KEYS`, where `KEYS` is unpadded URL-safe
/// base64 of the 32-byte Ed25519 public key, the 32-byte X25519 public key and a 4-byte check (the first four
/// bytes of BLAKE2b-256 over `fieldsync1:ID:EPOCH:` followed by the 64 key bytes). The check catches a line
/// damaged in an e-mail or a chat message before it is trusted.
public struct PublicIdentity: Sendable, Hashable, CustomStringConvertible {
    public let id: String
    public let epoch: UInt32
    /// Ed25519 public key (32 bytes).
    public let signingKey: [UInt8]
    /// X25519 public key (32 bytes).
    public let encryptionKey: [UInt8]

    static let prefix = "fieldsync1"

    init(id: String, epoch: UInt32, signingKey: [UInt8], encryptionKey: [UInt8]) {
        self.id = id
        self.epoch = epoch
        self.signingKey = signingKey
        self.encryptionKey = encryptionKey
    }

    /// Parses the one-line form; surrounding whitespace and `#` comment lines are ignored.
    ///
    /// - Throws: ``BundleError`` with code `.invalidKey` saying which part is wrong.
    public init(line text: String) throws {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let line = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else {
            throw BundleError(.invalidKey, "no public identity found (expected a line starting with '\(Self.prefix):')")
        }
        let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, fields[0] == Self.prefix else {
            throw BundleError(.invalidKey, "not a FieldSync public identity (expected '\(Self.prefix):ID:EPOCH:KEYS')")
        }
        guard Identifier.isValidNodeID(fields[1]) else {
            throw BundleError(.invalidKey, "public identity has an invalid node id '\(fields[1])'")
        }
        guard let epoch = UInt32(fields[2]) else {
            throw BundleError(.invalidKey, "public identity of '\(fields[1])' has an invalid key epoch '\(fields[2])'")
        }
        guard let bytes = Base64.decode(fields[3], count: 68, urlSafe: true) else {
            throw BundleError(.invalidKey, "public identity of '\(fields[1])' has damaged key bytes")
        }
        let expected = Self.check(id: fields[1], epoch: epoch, keys: Array(bytes[0..<64]))
        guard Array(bytes[64..<68]) == expected else {
            throw BundleError(
                .invalidKey, "public identity of '\(fields[1])' fails its check: the line was altered or cut")
        }
        self.init(id: fields[1], epoch: epoch, signingKey: Array(bytes[0..<32]), encryptionKey: Array(bytes[32..<64]))
    }

    /// The one-line form.
    public var line: String {
        let keys = signingKey + encryptionKey
        let check = Self.check(id: id, epoch: epoch, keys: keys)
        return "\(Self.prefix):\(id):\(epoch):\(Base64.encode(keys + check, urlSafe: true))"
    }

    public var description: String { line }

    /// A short fingerprint for people to compare over the phone: 8 groups of 4 hex digits of BLAKE2b over the line's keys.
    public var fingerprint: String {
        let digest = Digest()
        digest.update(signingKey + encryptionKey)
        let hex = Array(digest.finalHex().prefix(32))
        return stride(from: 0, to: hex.count, by: 4).map { String(hex[$0..<$0 + 4]) }.joined(separator: "-")
    }

    private static func check(id: String, epoch: UInt32, keys: [UInt8]) -> [UInt8] {
        let digest = Digest()
        digest.update(Array("\(prefix):\(id):\(epoch):".utf8) + keys)
        return Array(Hex.decode(digest.finalHex())!.prefix(4))
    }
}
