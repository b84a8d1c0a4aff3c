import CArchive

/// Writes a pax tar archive compressed with zstd (libarchive) into a byte sink, entry by entry.
///
/// Entries are whole buffers: tar needs each entry's size before its data, so callers hand over a complete,
/// bounded batch at a time.
final class ArchiveWriter {
    /// Receives the compressed archive bytes.
    typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    private final class Context {
        let sink: Sink
        var error: (any Error)?
        init(sink: @escaping Sink) { self.sink = sink }
    }

    private let archive: OpaquePointer
    private let context: Context
    private var closed = false

    /// Opens the archive (`archive_write_new`, pax restricted format, zstd filter at `compressionLevel`).
    init(compressionLevel: Int, threads: Int = 1, sink: @escaping Sink) throws {
        guard let archive = archive_write_new() else { throw BundleError(.archive, "archive_write_new failed") }
        self.archive = archive
        context = Context(sink: sink)
        try check(archive_write_set_format_pax_restricted(archive), "archive_write_set_format_pax_restricted")
        try check(archive_write_add_filter_zstd(archive), "archive_write_add_filter_zstd")
        try check(
            archive_write_set_filter_option(archive, "zstd", "compression-level", String(compressionLevel)),
            "zstd compression-level")
        if threads > 1 {
            try check(archive_write_set_filter_option(archive, "zstd", "threads", String(threads)), "zstd threads")
        }
        // No padding of the last block: the bytes would be encrypted and carried for nothing.
        try check(archive_write_set_bytes_in_last_block(archive, 1), "archive_write_set_bytes_in_last_block")
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        let result = archive_write_open(
            archive, opaque, nil,
            { _, clientData, buffer, length in
                let context = Unmanaged<ArchiveWriter.Context>.fromOpaque(clientData!).takeUnretainedValue()
                do {
                    try context.sink(UnsafeRawBufferPointer(start: buffer, count: length))
                    return la_ssize_t(length)
                } catch {
                    context.error = error
                    return -1
                }
            }, nil)
        try check(result, "archive_write_open")
    }

    deinit {
        archive_write_free(archive)
    }

    /// Adds a regular file entry holding `bytes`.
    func addEntry(path: String, bytes: UnsafeRawBufferPointer) throws {
        guard let entry = archive_entry_new() else { throw BundleError(.archive, "archive_entry_new failed") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_size(entry, la_int64_t(bytes.count))
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG
        archive_entry_set_perm(entry, 0o644)
        try check(archive_write_header(archive, entry), "archive_write_header(\(path))")
        var offset = 0
        while offset < bytes.count {
            let written = archive_write_data(archive, bytes.baseAddress! + offset, bytes.count - offset)
            guard written > 0 else {
                try check(Int32(ARCHIVE_FATAL), "archive_write_data(\(path))")
                return
            }
            offset += Int(written)
        }
    }

    func addEntry(path: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer) throws in try addEntry(path: path, bytes: buffer) }
    }

    /// Writes the end of the archive and flushes the compressor (`archive_write_close`).
    func finish() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(archive), "archive_write_close")
    }

    private func check(_ result: Int32, _ function: String) throws {
        guard result < ARCHIVE_WARN else { return }
        if let error = context.error { throw error }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        throw BundleError(.archive, "libarchive \(function): \(message)")
    }
}
