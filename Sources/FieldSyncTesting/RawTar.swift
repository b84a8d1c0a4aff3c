import CZstd

/// Builds a tar archive block by block, including records FieldSync never writes and a tar library would not let a
/// test write as it likes: pax global headers, GNU long-name and long-link records, wrong magic or checksum,
/// non-zero padding, bytes after the end marker. ``zstd(_:level:)`` compresses the result into one zstd frame.
public struct RawTar: Sendable {
    /// The archive so far.
    public var bytes: [UInt8] = []

    public init() {}

    /// The POSIX ustar magic and version, `ustar\0` `00`.
    public static let ustarMagic = Array("ustar\0".utf8) + Array("00".utf8)
    /// The GNU tar magic, `ustar  \0`.
    public static let gnuMagic = Array("ustar  \0".utf8)

    /// Appends one header block and `data` padded to 512 bytes.
    ///
    /// - Parameters:
    ///   - typeflag: `0` regular file, `x` pax extended header, `g` pax global header, `L` GNU long name, `K` GNU
    ///     long link, …
    ///   - checksumError: added to the correct checksum (0 for a valid header).
    ///   - paddingByte: what the padding after the data is made of.
    public mutating func add(
        _ name: String, typeflag: Character = "0", data: [UInt8] = [], magic: [UInt8] = ustarMagic,
        prefix: String = "", checksumError: Int = 0, paddingByte: UInt8 = 0
    ) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ field: [UInt8], at offset: Int) {
            for (index, byte) in field.enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(Array(name.utf8.prefix(100)), at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(data.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        header[156] = typeflag.asciiValue ?? 0
        put(magic, at: 257)
        put(Array(prefix.utf8.prefix(155)), at: 345)
        put(Array(repeating: 0x20, count: 8), at: 148)
        let sum = header.reduce(0) { $0 + Int($1) } + checksumError
        put(octal(sum, width: 7) + [0x20], at: 148)
        bytes += header + data
        let padding = (512 - data.count % 512) % 512
        bytes += [UInt8](repeating: paddingByte, count: padding)
    }

    /// Appends a regular file.
    public mutating func addFile(_ name: String, _ data: [UInt8]) {
        add(name, data: data)
    }

    /// Appends a pax record block (`x` or `g`) holding `records` as `LEN key=value\n` lines.
    public mutating func addPax(_ name: String, global: Bool, records: [(String, String)]) {
        var data: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).utf8.count + body.utf8.count != length { length += 1 }
            data += Array("\(length)\(body)".utf8)
        }
        add(name, typeflag: global ? "g" : "x", data: data)
    }

    /// Appends the end marker: two zero blocks.
    public mutating func end() {
        bytes += [UInt8](repeating: 0, count: 1024)
    }

    /// `bytes` compressed as one zstd frame.
    public static func zstd(_ bytes: [UInt8], level: Int32 = 3) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let written = out.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { source in
                ZSTD_compress(target.baseAddress, target.count, source.baseAddress, source.count, level)
            }
        }
        precondition(ZSTD_isError(written) == 0, "ZSTD_compress failed")
        return Array(out[0..<written])
    }

    /// A zstd skippable frame holding `payload` (magic 0x184D2A50, little-endian length).
    public static func skippableFrame(_ payload: [UInt8]) -> [UInt8] {
        let count = UInt32(payload.count)
        return [0x50, 0x2A, 0x4D, 0x18] + (0..<4).map { UInt8(truncatingIfNeeded: count >> (8 * $0)) } + payload
    }
}
