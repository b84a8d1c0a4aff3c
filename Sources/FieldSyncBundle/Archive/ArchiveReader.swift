import CZstd

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

/// Reads the payload archive, one zstd frame holding a plain ustar archive, from a pull source, refusing anything
/// the format does not allow.
///
/// The reader is FieldSync's own, on libzstd's streaming decoder, so that it accepts exactly what
/// `docs/bundle-format.md` §12 allows and nothing that another tar reader might read differently:
///
/// - exactly one zstd frame, and nothing after it (no second frame, no skippable frame, no stray bytes);
/// - POSIX ustar headers (magic `ustar\0`, version `00`) with a valid checksum, each for a regular file
///   (typeflag `0`); no pax extended (`x`) or global (`g`) headers, no GNU long-name (`L`) or long-link (`K`)
///   records, no links, directories, devices or FIFOs;
/// - plain relative names of safe characters; sizes in octal, within the entry-size limit;
/// - data padded with zero bytes to 512, and the end marker (two zero blocks) as the last bytes of the frame.
///
/// Entry count, entry size and expansion ratio are checked as the archive is read, before any entry's data is
/// buffered.
final class ArchiveReader {
    /// Supplies compressed bytes in place, at most `limit` of them: valid until the next call, empty at the end.
    typealias Source = (_ limit: Int) throws -> UnsafeRawBufferPointer

    /// An entry's name and declared size.
    struct Entry {
        var path: String
        var size: Int64
    }

    private static let blockSize = 512
    /// The POSIX ustar magic and version at offset 257 of a header: `ustar\0` `00`.
    private static let ustarMagic = Array("ustar\0".utf8) + Array("00".utf8)
    /// Largest zstd window a frame may ask for: 2^27 bytes, 128 MiB.
    static let maxWindowLog: Int32 = 27

    private let source: Source
    private let readSize: Int
    private let decoder: OpaquePointer
    private var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    /// Whether the zstd frame has been decoded completely.
    private var frameEnded = false
    private let limits: ArchiveLimits
    private let name: String
    private var entryCount = 0
    private var uncompressedBytes: Int64 = 0
    /// Compressed bytes taken from the source so far.
    private(set) var compressedBytes: Int64 = 0
    /// Data bytes of the current entry not yet read, and the padding after them.
    private var remainingData: Int64 = 0
    private var remainingPadding = 0
    private var currentPath = ""
    private var ended = false
    /// One tar block, reused for every header, end-marker block and padding: an archive of many small entries
    /// costs no allocation per entry.
    private var block = [UInt8](repeating: 0, count: 512)

    /// Prepares to read the archive from `source`.
    ///
    /// - Parameter name: how error messages refer to the archive (usually the bundle file).
    init(name: String, limits: ArchiveLimits, readSize: Int = 1 << 16, source: @escaping Source) throws {
        guard let decoder = ZSTD_createDCtx() else {
            throw BundleError(.archive, "cannot allocate a zstd decoder", path: name)
        }
        self.decoder = decoder
        // A frame may ask for a window of at most 128 MiB (libzstd's own default, stated here so it cannot grow).
        ZSTD_DCtx_setParameter(decoder, ZSTD_d_windowLogMax, Self.maxWindowLog)
        self.source = source
        self.readSize = readSize
        self.limits = limits
        self.name = name
    }

    deinit {
        ZSTD_freeDCtx(decoder)
    }

    /// Moves to the next entry; `nil` once the end marker, the end of the zstd frame and the end of the source
    /// have all been reached, with nothing between them.
    ///
    /// - Throws: ``BundleError`` with `.unsafeArchive` or `.limitExceeded` naming the entry, `.archive` for a
    ///   damaged archive, `.trailingData` for bytes after the end.
    func nextEntry() throws -> Entry? {
        if ended { return nil }
        try skipRestOfEntry()
        guard try readPlain(count: Self.blockSize) == Self.blockSize else {
            throw damaged("the archive ends without its end marker")
        }
        let header = block
        if header.allSatisfy({ $0 == 0 }) {
            guard try readPlain(count: Self.blockSize) == Self.blockSize, block.allSatisfy({ $0 == 0 }) else {
                throw damaged("the end marker is one zero block, not two")
            }
            try finish()
            ended = true
            return nil
        }
        entryCount += 1
        guard entryCount <= limits.maxEntries else {
            throw BundleError(
                .limitExceeded, "the payload holds more than \(limits.maxEntries) entries; refusing it", path: name)
        }
        guard Self.checksumMatches(header) else { throw damaged("a tar header's checksum does not match") }
        let path = Self.headerPath(header)
        // The name is the sender's choice: show it without control characters (no forged log lines or escapes).
        // Made only for a refusal: an archive of many entries costs no allocation per entry for it.
        var shown: String {
            String(
                String.UnicodeScalarView(
                    path.unicodeScalars.prefix(200).map {
                        $0.properties.generalCategory == .control ? "?" : $0
                    }))
        }
        guard header[257..<265].elementsEqual(Self.ustarMagic) else {
            throw BundleError(
                .unsafeArchive,
                "payload entry '\(shown)' does not have a POSIX ustar header (GNU or old tar); refusing it", path: name)
        }
        let typeflag = header[156]
        guard typeflag == UInt8(ascii: "0") || typeflag == 0 else {
            throw BundleError(
                .unsafeArchive, "payload entry '\(shown)' \(Self.describe(typeflag)); refusing it", path: name)
        }
        guard Self.isSafePath(path) else {
            throw BundleError(.unsafeArchive, "payload entry '\(shown)' has an unsafe path; refusing it", path: name)
        }
        guard let size = Self.octal(header[124..<136]) else {
            throw BundleError(
                .unsafeArchive, "payload entry '\(shown)' does not declare its size in octal; refusing it",
                path: name)
        }
        guard size <= limits.maxEntrySize else {
            throw BundleError(
                .limitExceeded,
                "payload entry '\(shown)' declares \(size) bytes, more than the limit of "
                    + "\(limits.maxEntrySize); refusing it", path: name)
        }
        try checkRatio(adding: Int64(Self.blockSize))
        currentPath = path
        remainingData = size
        remainingPadding = Int((Int64(Self.blockSize) - size % Int64(Self.blockSize)) % Int64(Self.blockSize))
        return Entry(path: path, size: size)
    }

    /// Reads the current entry whole, up to its declared size.
    func readEntry(_ entry: Entry) throws -> [UInt8] {
        let size = Int(entry.size)
        // Filled straight from the decoder: no zero-fill of a buffer that is about to be overwritten.
        return try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialised in
            try readEntry(entry, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<size]))
            initialised = size
        }
    }

    /// Reads the current entry whole into `buffer`, which holds exactly its declared size.
    func readEntry(_ entry: Entry, into buffer: UnsafeMutableBufferPointer<UInt8>) throws {
        precondition(Int64(buffer.count) == remainingData, "readEntry reads the current entry whole")
        var offset = 0
        while offset < buffer.count {
            // In steps, so that the expansion ratio is checked while a large entry is still being inflated.
            let step = min(buffer.count - offset, 1 << 20)
            let count = try decompress(
                into: UnsafeMutableRawBufferPointer(start: buffer.baseAddress! + offset, count: step))
            if count == 0 { break }
            offset += count
            remainingData -= Int64(count)
            try checkRatio(adding: Int64(count))
        }
        guard offset == buffer.count else {
            throw BundleError(.malformedBatch, "payload entry '\(entry.path)' is shorter than declared", path: name)
        }
    }

    // MARK: - Stream

    /// Skips what the caller did not read of the current entry, then its padding, which must be zero bytes.
    private func skipRestOfEntry() throws {
        while remainingData > 0 {
            let want = Int(min(remainingData, Int64(Self.blockSize)))
            let got = try readPlain(count: want)
            guard got > 0 else {
                throw BundleError(
                    .malformedBatch, "payload entry '\(currentPath)' is shorter than declared", path: name)
            }
            remainingData -= Int64(got)
            try checkRatio(adding: Int64(got))
        }
        if remainingPadding > 0 {
            guard try readPlain(count: remainingPadding) == remainingPadding else {
                throw damaged("the archive ends inside the padding of entry '\(currentPath)'")
            }
            guard block[0..<remainingPadding].allSatisfy({ $0 == 0 }) else {
                throw damaged("the padding after entry '\(currentPath)' is not zero bytes")
            }
            remainingPadding = 0
        }
    }

    /// Checks that nothing follows the end marker: no more bytes in the zstd frame, and no byte of input after it.
    private func finish() throws {
        var probe: UInt8 = 0
        while !frameEnded {
            let extra = try withUnsafeMutableBytes(of: &probe) { try decompress(into: $0) }
            guard extra == 0 else {
                throw BundleError(
                    .trailingData, "the payload has bytes after the tar archive's end marker; refusing it", path: name)
            }
        }
        let leftover = input.pos < input.size
        if try leftover || !source(readSize).isEmpty {
            throw BundleError(
                .trailingData,
                "the payload has data after its zstd frame (a second frame or stray bytes); refusing it", path: name)
        }
    }

    /// Fills the first `count` bytes of ``block`` (at most 512) with decompressed bytes; returns how many (fewer
    /// only at the end of the frame).
    private func readPlain(count: Int) throws -> Int {
        var total = 0
        while total < count {
            let got = try block.withUnsafeMutableBytes {
                try decompress(into: UnsafeMutableRawBufferPointer(rebasing: $0[total..<count]))
            }
            if got == 0 { break }
            total += got
        }
        return total
    }

    /// Decompresses into `buffer`; returns how many bytes (0 only once the zstd frame has ended).
    private func decompress(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while output.pos == 0, output.size > 0, !frameEnded {
            if input.pos == input.size {
                let bytes = try source(readSize)
                guard !bytes.isEmpty else { throw damaged("the compressed payload ends inside its zstd frame") }
                compressedBytes += Int64(bytes.count)
                input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
            }
            let result = ZSTD_decompressStream(decoder, &output, &input)
            if ZSTD_isError(result) != 0 {
                throw damaged("zstd: \(String(cString: ZSTD_getErrorName(result)))")
            }
            // 0: the frame is decoded and flushed. A skippable frame also ends this way, with no output, so a
            // payload that starts with one is refused as an archive without its end marker.
            if result == 0 { frameEnded = true }
        }
        return output.pos
    }

    private func damaged(_ what: String) -> BundleError {
        BundleError(.archive, "the payload archive is damaged: \(what)", path: name)
    }

    private func checkRatio(adding count: Int64) throws {
        uncompressedBytes += count
        guard uncompressedBytes > limits.ratioFloor else { return }
        guard uncompressedBytes <= limits.maxExpansionRatio * max(compressedBytes, 1) else {
            throw BundleError(
                .limitExceeded,
                "the payload expands more than \(limits.maxExpansionRatio):1 (\(uncompressedBytes) bytes from "
                    + "\(compressedBytes)); refusing it as a decompression bomb", path: name)
        }
    }

    // MARK: - ustar headers

    /// `prefix/name`, or `name` when the prefix field is empty; each field ends at its first NUL.
    static func headerPath(_ header: [UInt8]) -> String {
        func field(_ range: Range<Int>) -> ArraySlice<UInt8> {
            let slice = header[range]
            return slice[..<(slice.firstIndex(of: 0) ?? slice.endIndex)]
        }
        let name = field(0..<100)
        let prefix = field(345..<500)
        if prefix.isEmpty { return String(decoding: name, as: UTF8.self) }
        return String(decoding: prefix, as: UTF8.self) + "/" + String(decoding: name, as: UTF8.self)
    }

    /// The unsigned sum of the header with its checksum field counted as spaces equals the checksum field.
    static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = octal(header[148..<156]) else { return false }
        var sum: Int64 = 0
        for (index, byte) in header.enumerated() {
            sum += (148..<156).contains(index) ? 0x20 : Int64(byte)
        }
        return sum == stored
    }

    /// A numeric field: optional leading spaces, one or more octal digits, then only NUL or space bytes.
    /// Base-256 (GNU binary) numbers are refused.
    static func octal(_ field: ArraySlice<UInt8>) -> Int64? {
        var index = field.startIndex
        while index < field.endIndex, field[index] == 0x20 { index += 1 }
        var value: Int64 = 0
        var digits = 0
        while index < field.endIndex, field[index] >= 0x30, field[index] <= 0x37 {
            value = value * 8 + Int64(field[index] - 0x30)
            digits += 1
            index += 1
        }
        guard digits > 0, field[index...].allSatisfy({ $0 == 0 || $0 == 0x20 }) else { return nil }
        return value
    }

    /// What a typeflag other than a regular file's is, for the refusal.
    static func describe(_ typeflag: UInt8) -> String {
        switch typeflag {
        case UInt8(ascii: "1"), UInt8(ascii: "2"): "is a link or not a regular file"
        case UInt8(ascii: "x"): "is a pax extended header (typeflag 'x'), which a bundle does not use"
        case UInt8(ascii: "g"): "is a pax global header (typeflag 'g'), which a bundle does not use"
        case UInt8(ascii: "L"): "is a GNU long-name record (typeflag 'L'), which a bundle does not use"
        case UInt8(ascii: "K"): "is a GNU long-link record (typeflag 'K'), which a bundle does not use"
        default: "is a link or not a regular file (typeflag \(typeflag))"
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
}
