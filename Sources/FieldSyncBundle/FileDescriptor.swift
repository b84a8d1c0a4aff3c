#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An open file, closed when the owner lets go of it. Reads and writes retry on `EINTR` and short counts.
final class FileDescriptor {
    let path: String
    private(set) var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    /// Opens an existing regular file for reading.
    ///
    /// Anything else (a FIFO, a device, a directory, a socket) is refused at once, naming what it is: the file is
    /// opened without blocking (a FIFO with no writer would otherwise block `open` forever) and checked with
    /// `fstat` before a byte is read.
    static func openForReading(_ path: String) throws -> FileDescriptor {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw BundleError(.io, "cannot open: \(errnoMessage())", path: path) }
        let file = FileDescriptor(path: path, fd: fd)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BundleError(.io, "cannot stat: \(errnoMessage())", path: path) }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else {
            throw BundleError(
                .io, "is \(Self.describe(fileType: type)), not a regular file; refusing to read it", path: path)
        }
        // Reads of a regular file never block; clear the flag anyway so that it means nothing later.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return file
    }

    /// "a FIFO", "a directory", … for a `st_mode & S_IFMT` value.
    static func describe(fileType type: mode_t) -> String {
        switch type {
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Creates a new file; fails if it exists. `mode` is applied with `fchmod` so the umask cannot widen it.
    static func create(_ path: String, mode: mode_t = 0o644, exclusive: Bool = true) throws
        -> FileDescriptor
    {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = Glibc.open(path, flags, mode)
        guard fd >= 0 else {
            let message = errno == EEXIST ? "already exists; refusing to overwrite it" : errnoMessage()
            throw BundleError(.io, "cannot create: \(message)", path: path)
        }
        _ = fchmod(fd, mode)
        return FileDescriptor(path: path, fd: fd)
    }

    /// Writes all of `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "cannot write: \(errnoMessage())", path: path)
            }
            offset += written
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer) throws in try write(buffer) }
    }

    /// Reads up to `buffer.count` bytes; returns how many (0 at end of file). Fills the buffer unless at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = Glibc.read(fd, buffer.baseAddress! + total, buffer.count - total)
            if count < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "cannot read: \(errnoMessage())", path: path)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    /// Reads exactly `count` bytes at `offset`; throws `.truncated` if the file is shorter.
    func read(count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var total = 0
        while total < count {
            let got = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + total, count - total, off_t(offset) + off_t(total))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw BundleError(.io, "cannot read: \(errnoMessage())", path: path)
            }
            if got == 0 {
                throw BundleError(.truncated, "file ends early (at byte \(offset + Int64(total)))", path: path)
            }
            total += got
        }
        return bytes
    }

    /// Moves the read/write position.
    func seek(to offset: Int64) throws {
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else {
            throw BundleError(.io, "cannot seek: \(errnoMessage())", path: path)
        }
    }

    /// The file's size in bytes.
    func size() throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BundleError(.io, "cannot stat: \(errnoMessage())", path: path) }
        return Int64(info.st_size)
    }

    /// Flushes the file to stable storage (`fsync`), so a power cut after a rename cannot leave an empty file.
    func sync() throws {
        guard fsync(fd) == 0 else { throw BundleError(.io, "cannot fsync: \(errnoMessage())", path: path) }
    }

    func close() throws {
        guard fd >= 0 else { return }
        let result = Glibc.close(fd)
        fd = -1
        guard result == 0 else { throw BundleError(.io, "cannot close: \(errnoMessage())", path: path) }
    }
}

/// The text of the current `errno`.
func errnoMessage() -> String {
    String(cString: strerror(errno))
}

/// File-system steps the bundle writer and key store need, with errors that name the path.
enum FileSystem {
    static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw BundleError(.io, "cannot rename to \(to): \(errnoMessage())", path: from)
        }
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// `fsync` on a directory, so that a rename inside it survives a power cut.
    static func syncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }

    /// Permission bits of `path`, or `nil` if it cannot be read.
    static func permissions(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// Creates `path` and its parents with `mode` when missing.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw BundleError(.io, "cannot create directory: \(errnoMessage())", path: current)
            }
        }
    }
}
