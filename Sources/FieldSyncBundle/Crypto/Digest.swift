import CSodium
import FieldSyncCore

/// A streaming BLAKE2b-256 hash (`crypto_generichash_init/update/final`), used for ciphertext digests.
///
/// libsodium's state needs 64-byte alignment, which Swift cannot express for the imported struct, so it lives in
/// memory allocated here.
final class Digest {
    static let byteCount = 32
    private let state: UnsafeMutableRawPointer

    init() {
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        _ = crypto_generichash_init(OpaquePointer(state), nil, 0, Self.byteCount)
    }

    /// A hasher that continues from `other`'s current state.
    ///
    /// libsodium's BLAKE2b state is plain bytes (no pointers), so a byte copy is a complete copy.
    init(copying other: Digest) {
        let size = crypto_generichash_statebytes()
        state = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        state.copyMemory(from: other.state, byteCount: size)
    }

    deinit { state.deallocate() }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        _ = crypto_generichash_update(
            OpaquePointer(state), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
            UInt64(bytes.count))
    }

    func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest as lowercase hex. The hasher must not be used afterwards.
    func finalHex() -> String {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        _ = crypto_generichash_final(OpaquePointer(state), &out, Self.byteCount)
        return Hex.encode(out)
    }
}

/// Standard base64 with padding, through libsodium (`sodium_bin2base64`, `sodium_base642bin`).
enum Base64 {
    static func encode(_ bytes: UnsafeRawBufferPointer, urlSafe: Bool = false) -> String {
        let variant = urlSafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL
        let length = sodium_base64_encoded_len(bytes.count, variant)
        var out = [CChar](repeating: 0, count: length)
        let empty: [UInt8] = [0]
        _ = empty.withUnsafeBufferPointer { fallback in
            sodium_bin2base64(
                &out, length, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback.baseAddress!,
                bytes.count, variant)
        }
        return out.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func encode(_ bytes: [UInt8], urlSafe: Bool = false) -> String {
        bytes.withUnsafeBytes { encode($0, urlSafe: urlSafe) }
    }

    /// Decodes into `output`, which must be exactly the decoded size; returns false on any mismatch.
    static func decode(_ text: String, into output: UnsafeMutableRawBufferPointer, urlSafe: Bool = false) -> Bool {
        let variant = urlSafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING : sodium_base64_VARIANT_ORIGINAL
        var decodedLength = 0
        let length = text.utf8.count
        let result = text.withCString { cString in
            sodium_base642bin(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), output.count,
                cString, length, nil, &decodedLength, nil, variant)
        }
        return result == 0 && decodedLength == output.count
    }

    static func decode(_ text: String, count: Int, urlSafe: Bool = false) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBytes { decode(text, into: $0, urlSafe: urlSafe) }
        return ok ? bytes : nil
    }
}
