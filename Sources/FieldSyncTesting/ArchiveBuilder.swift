import CArchive

/// Writes a zstd-compressed tar archive entry by entry, including entries that FieldSync itself never writes:
/// links, directories, devices, unsafe paths and huge entries streamed from a small buffer.
///
/// Tests seal what it produces into a bundle to check that a reader refuses hostile payloads. It calls libarchive
/// directly (`archive_write_new`, `archive_write_header`, `archive_write_data`) so that nothing in the library
/// under test can sanitise the entries on the way in.
public final class ArchiveBuilder {
    /// Receives the compressed archive bytes as libarchive produces them.
    public typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    /// The tar dialect to write.
    public enum Format: Sendable {
        /// pax, using extended headers only where ustar cannot hold a field (what FieldSync writes).
        case paxRestricted
        /// pax with extended headers for every entry.
        case pax
        /// GNU tar.
        case gnutar
        /// Plain ustar.
        case ustar
    }

    /// tar file types (`AE_IF*`; the macros are casts, which Swift does not import).
    public enum FileType: UInt32, Sendable {
        case regular = 0o100000
        case directory = 0o040000
        case symlink = 0o120000
        case fifo = 0o010000
        case characterDevice = 0o020000
        case blockDevice = 0o060000
    }

    private final class Context {
        let sink: Sink
        var error: (any Error)?
        init(sink: @escaping Sink) { self.sink = sink }
    }

    /// An error from libarchive while building a test archive.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let archive: OpaquePointer
    private let context: Context
    private var closed = false
    /// Entries written so far.
    public private(set) var entryCount = 0
    /// Uncompressed bytes of entry data written so far.
    public private(set) var dataBytes: Int64 = 0

    /// Opens an archive writing into `sink`.
    public init(format: Format = .paxRestricted, compressionLevel: Int = 3, sink: @escaping Sink) throws {
        guard let archive = archive_write_new() else { throw Failure(description: "archive_write_new failed") }
        self.archive = archive
        context = Context(sink: sink)
        switch format {
        case .paxRestricted: try check(archive_write_set_format_pax_restricted(archive), "set format")
        case .pax: try check(archive_write_set_format_pax(archive), "set format")
        case .gnutar: try check(archive_write_set_format_gnutar(archive), "set format")
        case .ustar: try check(archive_write_set_format_ustar(archive), "set format")
        }
        try check(archive_write_add_filter_zstd(archive), "add zstd filter")
        try check(
            archive_write_set_filter_option(archive, "zstd", "compression-level", String(compressionLevel)),
            "zstd compression-level")
        try check(archive_write_set_bytes_in_last_block(archive, 1), "bytes in last block")
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        let result = archive_write_open(
            archive, opaque, nil,
            { _, clientData, buffer, length in
                let context = Unmanaged<ArchiveBuilder.Context>.fromOpaque(clientData!).takeUnretainedValue()
                do {
                    try context.sink(UnsafeRawBufferPointer(start: buffer, count: length))
                    return la_ssize_t(length)
                } catch {
                    context.error = error
                    return -1
                }
            }, nil)
        try check(result, "open")
    }

    deinit {
        archive_write_free(archive)
    }

    /// Adds a regular file holding `bytes`.
    public func addFile(_ path: String, bytes: [UInt8]) throws {
        try addEntry(path, type: .regular, size: Int64(bytes.count))
        try bytes.withUnsafeBytes { (buffer) throws in try writeData(buffer) }
    }

    /// Adds a regular file holding `text` as UTF-8.
    public func addFile(_ path: String, text: String) throws {
        try addFile(path, bytes: Array(text.utf8))
    }

    /// Adds a regular file of `size` zero bytes, streamed through a `pieceSize` buffer so that even a gigabyte
    /// entry costs no memory (and, compressed, almost no disk).
    public func addZeros(_ path: String, size: Int64, pieceSize: Int = 64 << 10) throws {
        try addEntry(path, type: .regular, size: size)
        let piece = [UInt8](repeating: 0, count: pieceSize)
        var remaining = size
        try piece.withUnsafeBytes { (buffer) throws in
            while remaining > 0 {
                let count = Int(min(Int64(buffer.count), remaining))
                try writeData(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                remaining -= Int64(count)
            }
        }
    }

    /// Adds a symbolic link `path` pointing at `target`.
    public func addSymlink(_ path: String, target: String) throws {
        try addEntry(path, type: .symlink, size: 0) { archive_entry_set_symlink($0, target) }
    }

    /// Adds a hard link `path` to the earlier entry `target`.
    public func addHardlink(_ path: String, target: String) throws {
        try addEntry(path, type: .regular, size: 0) { archive_entry_set_hardlink($0, target) }
    }

    /// Adds an entry of any type without data (directories, FIFOs, devices).
    public func addSpecial(_ path: String, type: FileType) throws {
        try addEntry(path, type: type, size: 0) { entry in
            if type == .characterDevice || type == .blockDevice {
                archive_entry_set_rdevmajor(entry, 1)
                archive_entry_set_rdevminor(entry, 3)
            }
        }
    }

    /// Writes the end of the archive and flushes the compressor.
    public func finish() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(archive), "close")
    }

    private func addEntry(
        _ path: String, type: FileType, size: Int64, configure: (OpaquePointer) -> Void = { _ in }
    ) throws {
        guard let entry = archive_entry_new() else { throw Failure(description: "archive_entry_new failed") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, type.rawValue)
        archive_entry_set_perm(entry, type == .directory ? 0o755 : 0o644)
        archive_entry_set_size(entry, la_int64_t(size))
        configure(entry)
        try check(archive_write_header(archive, entry), "write header of '\(path)'")
        entryCount += 1
    }

    private func writeData(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let written = archive_write_data(archive, buffer.baseAddress! + offset, buffer.count - offset)
            guard written > 0 else {
                if let error = context.error { throw error }
                throw Failure(description: "archive_write_data failed: \(message)")
            }
            offset += Int(written)
            dataBytes += Int64(written)
        }
    }

    private var message: String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
    }

    private func check(_ result: Int32, _ what: String) throws {
        guard result < ARCHIVE_WARN else { return }
        if let error = context.error { throw error }
        throw Failure(description: "libarchive \(what): \(message)")
    }
}
