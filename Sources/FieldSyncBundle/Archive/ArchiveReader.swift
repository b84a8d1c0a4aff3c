import CArchive

/// Limits that make a hostile or broken archive fail fast instead of filling memory or disk.
public struct ArchiveLimits: Sendable {
    /// Most entries an archive may hold.
    public var maxEntries: Int
    /// Largest size of one entry, in bytes.
    public var maxEntrySize: Int64
    /// Largest ratio of uncompressed to compressed bytes, once past `ratioFloor` uncompressed bytes.
    public var maxExpansionRatio: Int64
    /// Uncompressed bytes allowed before the ratio is checked (small, very regular bundles compress far).
    public var ratioFloor: Int64

    /// Defaults: 50,000 entries, 64 MiB per entry, 1000:1 expansion after the first 256 MiB.
    public static let `default` = ArchiveLimits(
        maxEntries: 50_000, maxEntrySize: 64 << 20, maxExpansionRatio: 1000, ratioFloor: 256 << 20)

    public init(maxEntries: Int, maxEntrySize: Int64, maxExpansionRatio: Int64, ratioFloor: Int64) {
        self.maxEntries = maxEntries
        self.maxEntrySize = maxEntrySize
        self.maxExpansionRatio = maxExpansionRatio
        self.ratioFloor = ratioFloor
    }
}

/// Reads a zstd-compressed tar archive (libarchive) from a pull source, refusing anything unsafe.
///
/// Only regular files with plain relative names are accepted: no absolute paths, no `..`, no links, devices or
/// directories. Entry count, entry size and expansion ratio are checked as the archive is read, before any
/// entry's data is buffered.
final class ArchiveReader {
    /// Supplies compressed bytes in place, at most `limit` of them: valid until the next call, empty at the end.
    typealias Source = (_ limit: Int) throws -> UnsafeRawBufferPointer

    /// An entry's name and declared size.
    struct Entry {
        var path: String
        var size: Int64
    }

    private final class Context {
        let source: Source
        /// Most bytes handed to libarchive per read callback. Small steps keep the count of compressed bytes (and so
        /// the expansion-ratio check) close to what the decompressor has actually consumed.
        let readSize: Int
        var error: (any Error)?
        var compressedBytes: Int64 = 0
        init(source: @escaping Source, readSize: Int) {
            self.source = source
            self.readSize = readSize
        }
    }

    private let archive: OpaquePointer
    private let context: Context
    private let limits: ArchiveLimits
    private let name: String
    private var entryCount = 0
    private var uncompressedBytes: Int64 = 0

    /// Opens the archive for reading; only the tar format and the zstd filter are enabled.
    ///
    /// - Parameter name: how error messages refer to the archive (usually the bundle file).
    init(name: String, limits: ArchiveLimits, readSize: Int = 1 << 16, source: @escaping Source) throws {
        guard let archive = archive_read_new() else { throw BundleError(.archive, "archive_read_new failed") }
        self.archive = archive
        self.limits = limits
        self.name = name
        context = Context(source: source, readSize: readSize)
        archive_read_support_format_tar(archive)
        archive_read_support_filter_zstd(archive)
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        let result = archive_read_open(
            archive, opaque, nil,
            { _, clientData, bufferOut in
                let context = Unmanaged<ArchiveReader.Context>.fromOpaque(clientData!).takeUnretainedValue()
                do {
                    // The source's bytes stay valid until the next callback, as libarchive requires: no copy.
                    let bytes = try context.source(context.readSize)
                    context.compressedBytes += Int64(bytes.count)
                    bufferOut!.pointee = bytes.baseAddress
                    return la_ssize_t(bytes.count)
                } catch {
                    context.error = error
                    return -1
                }
            }, nil)
        try check(result, "open")
    }

    deinit {
        archive_read_free(archive)
    }

    /// Moves to the next entry; `nil` at the end of the archive.
    ///
    /// - Throws: ``BundleError`` with `.unsafeArchive` or `.limitExceeded` naming the entry.
    func nextEntry() throws -> Entry? {
        var entry: OpaquePointer?
        let result = archive_read_next_header(archive, &entry)
        if result == ARCHIVE_EOF { return nil }
        try check(result, "read entry header")
        guard let entry else { throw BundleError(.archive, "libarchive returned no entry", path: name) }
        entryCount += 1
        guard entryCount <= limits.maxEntries else {
            throw BundleError(
                .limitExceeded, "the payload holds more than \(limits.maxEntries) entries; refusing it", path: name)
        }
        let path = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        // The name is the sender's choice: show it without control characters (no forged log lines or escapes).
        let shown = String(
            String.UnicodeScalarView(
                path.unicodeScalars.prefix(200).map {
                    $0.properties.generalCategory == .control ? "?" : $0
                }))
        guard archive_entry_hardlink(entry) == nil, archive_entry_symlink(entry) == nil,
            archive_entry_filetype(entry) == 0o100000
        else {
            throw BundleError(
                .unsafeArchive, "payload entry '\(shown)' is a link or not a regular file; refusing it", path: name)
        }
        guard Self.isSafePath(path) else {
            throw BundleError(.unsafeArchive, "payload entry '\(shown)' has an unsafe path; refusing it", path: name)
        }
        let size = archive_entry_size(entry)
        guard archive_entry_size_is_set(entry) != 0, size >= 0, size <= limits.maxEntrySize else {
            throw BundleError(
                .limitExceeded,
                "payload entry '\(shown)' declares \(size) bytes, more than the limit of "
                    + "\(limits.maxEntrySize); refusing it", path: name)
        }
        try checkRatio(adding: 512)
        return Entry(path: path, size: size)
    }

    /// Reads the current entry whole, up to its declared size.
    func readEntry(_ entry: Entry) throws -> [UInt8] {
        let size = Int(entry.size)
        // Filled straight from libarchive: no zero-fill of a buffer that is about to be overwritten.
        return try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialised in
            try readEntry(entry, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<size]))
            initialised = size
        }
    }

    /// Reads the current entry whole into `buffer`, which holds exactly its declared size.
    func readEntry(_ entry: Entry, into buffer: UnsafeMutableBufferPointer<UInt8>) throws {
        var offset = 0
        while offset < buffer.count {
            let count = archive_read_data(archive, buffer.baseAddress! + offset, buffer.count - offset)
            if count == 0 { break }
            guard count > 0 else {
                try check(Int32(count), "read entry '\(entry.path)'")
                break
            }
            offset += count
            try checkRatio(adding: Int64(count))
        }
        guard offset == buffer.count else {
            throw BundleError(.malformedBatch, "payload entry '\(entry.path)' is shorter than declared", path: name)
        }
    }

    /// Reads to the end of the archive data and checks nothing but ends follow.
    var compressedBytes: Int64 { context.compressedBytes }

    private func checkRatio(adding count: Int64) throws {
        uncompressedBytes += count
        guard uncompressedBytes > limits.ratioFloor else { return }
        guard uncompressedBytes <= limits.maxExpansionRatio * max(context.compressedBytes, 1) else {
            throw BundleError(
                .limitExceeded,
                "the payload expands more than \(limits.maxExpansionRatio):1 (\(uncompressedBytes) bytes from "
                    + "\(context.compressedBytes)); refusing it as a decompression bomb", path: name)
        }
    }

    /// A plain relative path of safe characters: no leading `/`, no `.` or `..` component, no backslash.
    static func isSafePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 255, !path.hasPrefix("/") else { return false }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component != ".", component != ".." else { return false }
        }
        return path.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "/")
        }
    }

    private func check(_ result: Int32, _ what: String) throws {
        guard result < ARCHIVE_WARN else { return }
        if let error = context.error { throw error }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        throw BundleError(.archive, "the payload archive is damaged (\(what)): \(message)", path: name)
    }
}
