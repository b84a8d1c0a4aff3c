import CSodium

/// One end of a `crypto_secretstream_xchacha20poly1305` stream, for the reference pipeline.
///
/// The key is a throwaway drawn for one measurement; it is kept in `sodium_malloc`'d memory and freed with it.
final class SecretStreamKey {
    let pointer: UnsafeMutablePointer<UInt8>
    static let byteCount = Int(crypto_secretstream_xchacha20poly1305_keybytes())

    /// Draws a fresh key (`crypto_secretstream_xchacha20poly1305_keygen`).
    init() throws {
        guard sodium_init() >= 0 else { throw BenchError("sodium_init failed") }
        guard let raw = sodium_malloc(Self.byteCount) else { throw BenchError("sodium_malloc failed") }
        pointer = raw.assumingMemoryBound(to: UInt8.self)
        crypto_secretstream_xchacha20poly1305_keygen(pointer)
    }

    deinit { sodium_free(pointer) }
}

/// The encrypting end (`crypto_secretstream_xchacha20poly1305_init_push` / `_push`).
final class SecretStreamPush {
    private var state = crypto_secretstream_xchacha20poly1305_state()
    /// The stream header, to be written before the first chunk.
    let header: [UInt8]
    private var ciphertext: [UInt8]

    init(key: SecretStreamKey, chunkSize: Int) throws {
        var header = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_headerbytes()))
        let result = crypto_secretstream_xchacha20poly1305_init_push(&state, &header, key.pointer)
        guard result == 0 else { throw BenchError("crypto_secretstream_xchacha20poly1305_init_push failed") }
        self.header = header
        ciphertext = [UInt8](repeating: 0, count: chunkSize + Int(crypto_secretstream_xchacha20poly1305_abytes()))
    }

    /// Encrypts one chunk and hands the ciphertext to `sink`.
    func push(
        _ message: UnsafeRawBufferPointer, final: Bool, into sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var written: UInt64 = 0
        let tag =
            final
            ? crypto_secretstream_xchacha20poly1305_tag_final() : crypto_secretstream_xchacha20poly1305_tag_message()
        let result = crypto_secretstream_xchacha20poly1305_push(
            &state, &ciphertext, &written, message.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(message.count), nil, 0, tag)
        guard result == 0 else { throw BenchError("crypto_secretstream_xchacha20poly1305_push failed") }
        try ciphertext.withUnsafeBytes { (bytes) throws in
            try sink(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(written)]))
        }
    }
}

/// The decrypting end (`crypto_secretstream_xchacha20poly1305_init_pull` / `_pull`).
final class SecretStreamPull {
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private var plaintext: [UInt8]
    static let headerByteCount = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
    static let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())

    init(key: SecretStreamKey, header: [UInt8], chunkSize: Int) throws {
        let result = crypto_secretstream_xchacha20poly1305_init_pull(&state, header, key.pointer)
        guard result == 0 else { throw BenchError("crypto_secretstream_xchacha20poly1305_init_pull failed") }
        plaintext = [UInt8](repeating: 0, count: chunkSize)
    }

    /// Decrypts one chunk and hands the plaintext to `sink`; returns whether it was tagged FINAL.
    func pull(_ chunk: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        var length: UInt64 = 0
        var tag: UInt8 = 0
        let result = crypto_secretstream_xchacha20poly1305_pull(
            &state, &plaintext, &length, &tag, chunk.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(chunk.count), nil, 0)
        guard result == 0 else { throw BenchError("a reference chunk failed authentication") }
        try plaintext.withUnsafeBytes { (bytes) throws in
            try sink(UnsafeRawBufferPointer(rebasing: bytes[0..<Int(length)]))
        }
        return tag == crypto_secretstream_xchacha20poly1305_tag_final()
    }
}
