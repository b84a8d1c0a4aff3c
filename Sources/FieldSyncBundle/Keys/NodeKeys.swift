import CSodium
import FieldSyncCore

/// A node's secret keys: Ed25519 for signing what it sends, X25519 for opening what is sent to it.
///
/// The secret bytes live in `sodium_malloc`'d memory (``SecureBytes``) and never appear in a description.
public final class NodeKeys: Sendable, CustomStringConvertible {
    public let id: String
    /// Incremented when a node's keys are replaced; bundles name the epoch they were signed with.
    public let epoch: UInt32
    /// The public half, to give to peers.
    public let identity: PublicIdentity
    let signingSecret: SecureBytes  // crypto_sign_SECRETKEYBYTES (64)
    let encryptionSecret: SecureBytes  // crypto_box_SECRETKEYBYTES (32)

    init(id: String, epoch: UInt32, signingSecret: SecureBytes, encryptionSecret: SecureBytes) throws {
        self.id = id
        self.epoch = epoch
        self.signingSecret = signingSecret
        self.encryptionSecret = encryptionSecret
        // The Ed25519 secret key carries its public key; the X25519 public key is derived from the secret.
        let signingKey = signingSecret.withBytes { Array($0[32..<64]) }
        var encryptionKey = [UInt8](repeating: 0, count: Int(crypto_box_publickeybytes()))
        let result = encryptionSecret.withBytes { secret in
            crypto_scalarmult_base(&encryptionKey, secret.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        try Sodium.check(result, "crypto_scalarmult_base")
        identity = PublicIdentity(id: id, epoch: epoch, signingKey: signingKey, encryptionKey: encryptionKey)
    }

    /// Generates fresh keys (`crypto_sign_keypair`, `crypto_box_keypair`).
    ///
    /// - Throws: ``BundleError`` with `.invalidArgument` if `id` is not a valid node id.
    public static func generate(id: String, epoch: UInt32 = 1) throws -> NodeKeys {
        guard Identifier.isValidNodeID(id) else {
            throw BundleError(
                .invalidArgument,
                "'\(id)' is not a valid node id: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
            )
        }
        let signing = try SecureBytes(count: Int(crypto_sign_secretkeybytes()))
        let encryption = try SecureBytes(count: Int(crypto_box_secretkeybytes()))
        var signingPublic = [UInt8](repeating: 0, count: Int(crypto_sign_publickeybytes()))
        var encryptionPublic = [UInt8](repeating: 0, count: Int(crypto_box_publickeybytes()))
        let signResult = signing.withMutableBytes {
            crypto_sign_keypair(&signingPublic, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        try Sodium.check(signResult, "crypto_sign_keypair")
        let boxResult = encryption.withMutableBytes {
            crypto_box_keypair(&encryptionPublic, $0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        try Sodium.check(boxResult, "crypto_box_keypair")
        return try NodeKeys(id: id, epoch: epoch, signingSecret: signing, encryptionSecret: encryption)
    }

    public var description: String { "NodeKeys(\(id), epoch \(epoch))" }

    /// Signs `message` with Ed25519 (`crypto_sign_detached`); returns the 64-byte signature.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_bytes()))
        let result = signingSecret.withBytes { secret in
            crypto_sign_detached(
                &signature, nil, message, UInt64(message.count),
                secret.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        try Sodium.check(result, "crypto_sign_detached")
        return signature
    }

    /// Opens a sealed box addressed to this node (`crypto_box_seal_open`) into secure memory.
    func openSealed(_ sealed: [UInt8], count: Int) throws -> SecureBytes {
        let output = try SecureBytes(count: count)
        guard sealed.count == count + Int(crypto_box_sealbytes()) else {
            throw BundleError(.wrongRecipient, "the wrapped content key has the wrong length")
        }
        let result = encryptionSecret.withBytes { secret in
            output.withMutableBytes { out in
                crypto_box_seal_open(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), sealed,
                    UInt64(sealed.count), identity.encryptionKey,
                    secret.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard result == 0 else {
            throw BundleError(
                .wrongRecipient,
                "the content key does not open with the keys of '\(id)': the bundle was encrypted to another key")
        }
        return output
    }
}

extension PublicIdentity {
    /// Checks an Ed25519 signature (`crypto_sign_verify_detached`).
    func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == Int(crypto_sign_bytes()) else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), signingKey) == 0
    }

    /// Seals `secret` to this identity's X25519 key (`crypto_box_seal`): only its holder can open it.
    func seal(_ secret: SecureBytes) throws -> [UInt8] {
        var sealed = [UInt8](repeating: 0, count: secret.count + Int(crypto_box_sealbytes()))
        let result = secret.withBytes { bytes in
            crypto_box_seal(
                &sealed, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count),
                encryptionKey)
        }
        try Sodium.check(result, "crypto_box_seal")
        return sealed
    }
}
