#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension FileDescriptor {
    /// Reads up to `buffer.count` bytes at `offset` (`pread`), without using or moving the file position; returns
    /// how many (fewer only at the end of the file).
    ///
    /// The payload is decrypted on a prefetch thread while the caller keeps the same descriptors (to verify a
    /// part again, say); reading at explicit offsets means neither can move the other's position.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "cannot read: \(errnoMessage())", path: path)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }
}
