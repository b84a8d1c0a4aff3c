import CSodium

/// Entry point to libsodium: initialises it once, before any other call.
enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    /// Calls `sodium_init()` once; it returns 0 the first time and 1 afterwards, -1 on failure.
    static func ensureInitialised() throws {
        guard initialised else { throw BundleError(.crypto, "libsodium could not be initialised (sodium_init)") }
    }

    /// Throws a ``BundleError`` with code `.crypto` when a libsodium call returns non-zero.
    static func check(_ result: Int32, _ function: String) throws {
        guard result == 0 else { throw BundleError(.crypto, "libsodium \(function) failed") }
    }

    /// Fills `count` random bytes (`randombytes_buf`).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return bytes
    }
}

/// Secret bytes in `sodium_malloc`'d memory: guarded pages, locked where possible, wiped when freed.
///
/// Secret key material lives only here; it is never copied into a Swift array, a log line or an error.
final class SecureBytes: @unchecked Sendable {
    // @unchecked: the buffer is written only during initialisation and read-only afterwards.
    let count: Int
    private let pointer: UnsafeMutableRawPointer

    /// Allocates `count` bytes with `sodium_malloc`.
    init(count: Int) throws {
        try Sodium.ensureInitialised()
        guard let pointer = sodium_malloc(count) else {
            throw BundleError(.crypto, "sodium_malloc could not allocate \(count) bytes for key material")
        }
        sodium_memzero(pointer, count)
        self.count = count
        self.pointer = pointer
    }

    deinit { sodium_free(pointer) }

    /// Runs `body` with read access to the secret bytes.
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Runs `body` with write access, for filling the buffer.
    func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// Compares in constant time (`sodium_memcmp`).
    func isEqual(to other: SecureBytes) -> Bool {
        count == other.count && sodium_memcmp(pointer, other.pointer, count) == 0
    }
}
