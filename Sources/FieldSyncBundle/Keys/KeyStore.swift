import CSodium
import FieldSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// Reads and writes key files: `ID.key` (secret, mode 0600) and `ID.pub` (the one-line public identity).
///
/// The secret key file is text:
/// ```
/// FIELDSYNC SECRET KEY v1
/// id: site-a
/// epoch: 1
/// signing-secret: <base64 of the 64-byte Ed25519 secret key>
/// encryption-secret: <base64 of the 32-byte X25519 secret key>
/// ```
/// Base64 is decoded straight into secure memory, and the file's bytes are wiped after parsing.
public enum KeyStore {
    static let secretHeader = "FIELDSYNC SECRET KEY v1"

    /// Writes `keys` as `directory/ID.key` (0600) and `directory/ID.pub` (0644); refuses to overwrite either.
    ///
    /// - Returns: the paths of the secret and public files.
    @discardableResult
    public static func write(_ keys: NodeKeys, to directory: String) throws -> (secret: String, public: String) {
        try FileSystem.makeDirectory(directory)
        let secretPath = "\(directory)/\(keys.id).key"
        let publicPath = "\(directory)/\(keys.id).pub"
        for path in [secretPath, publicPath] where FileSystem.exists(path) {
            throw BundleError(
                .io, "a key file already exists; refusing to overwrite it (move it away first)", path: path)
        }
        var text = Array("\(secretHeader)\nid: \(keys.id)\nepoch: \(keys.epoch)\nsigning-secret: ".utf8)
        keys.signingSecret.withBytes { text += Array(Base64.encode($0).utf8) }
        text += Array("\nencryption-secret: ".utf8)
        keys.encryptionSecret.withBytes { text += Array(Base64.encode($0).utf8) }
        text += Array("\n".utf8)
        defer { text.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) } }
        let secretFile = try FileDescriptor.create(secretPath, mode: 0o600)
        try secretFile.write(text)
        try secretFile.sync()
        try secretFile.close()
        let publicFile = try FileDescriptor.create(publicPath, mode: 0o644)
        try publicFile.write(Array((keys.identity.line + "\n").utf8))
        try publicFile.close()
        return (secretPath, publicPath)
    }

    /// Reads a secret key file. Refuses a file that others can read, as ssh does.
    public static func readSecret(at path: String) throws -> NodeKeys {
        if let mode = FileSystem.permissions(path), mode & 0o077 != 0 {
            throw BundleError(
                .invalidKey,
                "permissions \(String(mode, radix: 8)) are too open for a secret key; run: chmod 600 \(path)",
                path: path)
        }
        let file = try FileDescriptor.openForReading(path)
        let size = try file.size()
        guard size < 4096 else {
            throw BundleError(.invalidKey, "not a FieldSync secret key (file too large)", path: path)
        }
        var bytes = try file.read(count: Int(size), at: 0)
        defer { bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) } }
        var fields: [String: ArraySlice<UInt8>] = [:]
        let lines = bytes.split(separator: UInt8(ascii: "\n"))
        guard let first = lines.first,
            String(decoding: first.last == UInt8(ascii: "\r") ? first.dropLast() : first, as: UTF8.self) == secretHeader
        else {
            throw BundleError(
                .invalidKey, "not a FieldSync secret key (first line must be '\(secretHeader)')", path: path)
        }
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            var value = line[(colon + 1)...]
            while value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            while value.last == UInt8(ascii: "\r") || value.last == UInt8(ascii: " ") { value = value.dropLast() }
            fields[name] = value
        }
        func text(_ name: String) throws -> String {
            guard let value = fields[name] else {
                throw BundleError(.invalidKey, "secret key file has no '\(name):' line", path: path)
            }
            return String(decoding: value, as: UTF8.self)
        }
        func secret(_ name: String, count: Int) throws -> SecureBytes {
            guard let value = fields[name] else {
                throw BundleError(.invalidKey, "secret key file has no '\(name):' line", path: path)
            }
            let output = try SecureBytes(count: count)
            var decoded = 0
            let result = value.withUnsafeBufferPointer { encoded in
                output.withMutableBytes { out in
                    sodium_base642bin(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), count,
                        UnsafeRawPointer(encoded.baseAddress!).assumingMemoryBound(to: CChar.self),
                        encoded.count, nil, &decoded, nil, sodium_base64_VARIANT_ORIGINAL)
                }
            }
            guard result == 0, decoded == count else {
                throw BundleError(.invalidKey, "secret key file has a damaged '\(name):' line", path: path)
            }
            return output
        }
        let id = try text("id")
        guard Identifier.isValidNodeID(id) else {
            throw BundleError(.invalidKey, "secret key file has an invalid id '\(id)'", path: path)
        }
        guard let epoch = UInt32(try text("epoch")) else {
            throw BundleError(.invalidKey, "secret key file has an invalid epoch", path: path)
        }
        let keys = try NodeKeys(
            id: id, epoch: epoch,
            signingSecret: try secret("signing-secret", count: Int(crypto_sign_secretkeybytes())),
            encryptionSecret: try secret("encryption-secret", count: Int(crypto_box_secretkeybytes())))
        // An Ed25519 secret key embeds its public key; a mismatch means a damaged or spliced file.
        let check = try keys.sign(Array("fieldsync key self-check".utf8))
        guard keys.identity.verify(signature: check, message: Array("fieldsync key self-check".utf8)) else {
            throw BundleError(.invalidKey, "secret key file is damaged: its signing key does not verify", path: path)
        }
        return keys
    }

    /// Reads a public identity file (`ID.pub`).
    public static func readPublic(at path: String) throws -> PublicIdentity {
        let file = try FileDescriptor.openForReading(path)
        let size = try file.size()
        guard size < 65536 else {
            throw BundleError(.invalidKey, "not a FieldSync public identity (file too large)", path: path)
        }
        let bytes = try file.read(count: Int(size), at: 0)
        do {
            return try PublicIdentity(line: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw (error as? BundleError)?.at(path) ?? error
        }
    }
}
