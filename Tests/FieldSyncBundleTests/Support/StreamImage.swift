import CSodium
import FieldSyncTesting

@testable import FieldSyncBundle

/// The secretstream layer of a bundle opened with the recipient's keys, to encrypt its plaintext again with other
/// chunk tags (which FieldSync's writer never uses) before the bundle is re-signed.
struct StreamImage {
    let key: SecureBytes
    let chunkSize: Int
    /// The decrypted chunks, in order.
    var chunks: [[UInt8]]

    static let message = crypto_secretstream_xchacha20poly1305_tag_message()
    static let push = crypto_secretstream_xchacha20poly1305_tag_push()
    static let rekey = crypto_secretstream_xchacha20poly1305_tag_rekey()
    static let final = crypto_secretstream_xchacha20poly1305_tag_final()

    /// Unwraps the content key of `image` with `recipient` and decrypts every chunk.
    init(_ image: BundleImage, recipient: NodeKeys) throws {
        let header = try image.parts[0].header
        guard let sealed = Base64.decode(header.contentKey, count: 80) else {
            throw PartImage.ImageError(description: "malformed content key")
        }
        key = try recipient.openSealed(sealed, count: 32)
        chunkSize = header.chunkSize
        let ciphertext = image.ciphertext
        var state = crypto_secretstream_xchacha20poly1305_state()
        key.withBytes { bytes in
            _ = crypto_secretstream_xchacha20poly1305_init_pull(
                &state, Array(ciphertext[0..<24]), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        var chunks: [[UInt8]] = []
        var offset = 24
        while offset < ciphertext.count {
            let end = min(offset + chunkSize + 17, ciphertext.count)
            var plain = [UInt8](repeating: 0, count: end - offset)
            var length: UInt64 = 0
            var tag: UInt8 = 0
            let result = crypto_secretstream_xchacha20poly1305_pull(
                &state, &plain, &length, &tag, Array(ciphertext[offset..<end]), UInt64(end - offset), nil, 0)
            guard result == 0 else { throw PartImage.ImageError(description: "cannot decrypt chunk") }
            chunks.append(Array(plain[0..<Int(length)]))
            offset = end
        }
        self.chunks = chunks
    }

    /// The chunks encrypted again under the same key and a fresh stream header, chunk `i` with `tags[i]`.
    func encrypt(tags: [UInt8]) -> [UInt8] {
        var state = crypto_secretstream_xchacha20poly1305_state()
        var streamHeader = [UInt8](repeating: 0, count: 24)
        key.withBytes { bytes in
            _ = crypto_secretstream_xchacha20poly1305_init_push(
                &state, &streamHeader, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        var out = streamHeader
        for (chunk, tag) in zip(chunks, tags) {
            var cipher = [UInt8](repeating: 0, count: chunk.count + 17)
            var length: UInt64 = 0
            _ = crypto_secretstream_xchacha20poly1305_push(
                &state, &cipher, &length, chunk, UInt64(chunk.count), nil, 0, tag)
            out += cipher[0..<Int(length)]
        }
        return out
    }
}

extension PartImage {
    struct ImageError: Error, CustomStringConvertible {
        var description: String
    }
}
