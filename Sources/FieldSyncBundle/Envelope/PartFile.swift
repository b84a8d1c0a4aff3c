import FieldSyncCore
import Foundation

/// The fields of a header that decide whether this FieldSync can read the rest.
struct HeaderPreamble: Decodable {
    var format: String
    var version: Int
    var requires: [String]
}

/// One part file of a bundle, with its framing parsed but nothing trusted yet.
struct PartFile {
    let path: String
    let file: FileDescriptor
    let size: Int64
    let headerBytes: [UInt8]
    let header: BundleHeader
    let trailerBytes: [UInt8]
    let trailer: BundleTrailer
    let signature: [UInt8]
    /// Offset of the first ciphertext byte.
    let ciphertextOffset: Int64

    /// Reads the framing of the part file at `path`: magic, header, trailer, signature.
    ///
    /// - Throws: ``BundleError`` saying whether the file is not a bundle, cut short, or has bytes appended.
    init(path: String) throws {
        self.path = path
        file = try FileDescriptor.openForReading(path)
        size = try file.size()
        guard size >= 12 else {
            throw BundleError(.notABundle, "not a FieldSync bundle (only \(size) bytes)", path: path)
        }
        let prefix = try file.read(count: 12, at: 0)
        guard Array(prefix[0..<8]) == PartFraming.startMagic else {
            throw BundleError(.notABundle, "not a FieldSync bundle (the file does not start with FSBUNDLE)", path: path)
        }
        let headerLength = Int(PartFraming.readBigEndian(prefix[8..<12]))
        guard headerLength <= PartFraming.maxJSONSize else {
            throw BundleError(.notABundle, "bundle header length \(headerLength) is larger than allowed", path: path)
        }
        guard size >= Int64(12 + headerLength + PartFraming.tailSize) else {
            throw BundleError(
                .truncated, "the bundle is truncated: it ends inside its header (\(size) bytes)", path: path)
        }
        headerBytes = try file.read(count: headerLength, at: 12)
        ciphertextOffset = Int64(12 + headerLength)
        // Strict JSON first (no byte-order mark, no key twice, no `4.0` for an integer): two readers of these signed
        // bytes must never read different headers. Then format, version and capabilities, so that a newer bundle
        // is told apart from a damaged one.
        let headerJSON: JSONValue
        do {
            headerJSON = try StrictJSON.parse(headerBytes)
        } catch {
            throw BundleError(.notABundle, "the bundle header is not valid JSON: \(error.message)", path: path)
        }
        let lenient = StrictJSONDecoder(refusesUnknownKeys: false, integerRanges: BundleHeader.integerRanges)
        let preamble: HeaderPreamble
        do {
            preamble = try lenient.decode(HeaderPreamble.self, from: headerJSON)
        } catch {
            throw BundleError(.notABundle, "the bundle header is not valid: \(error)", path: path)
        }
        try EnvelopeReader.checkVersion(preamble, path: path)
        do {
            header = try lenient.decode(BundleHeader.self, from: headerJSON)
        } catch {
            throw BundleError(.notABundle, "the bundle header is not valid for format v1: \(error)", path: path)
        }
        try header.checkNumbers(path: path)
        guard Identifier.isValidNodeID(header.sender), Identifier.isValidNodeID(header.recipient) else {
            throw BundleError(.notABundle, "the bundle header names an invalid sender or recipient id", path: path)
        }
        let tail = try file.read(count: PartFraming.tailSize, at: size - Int64(PartFraming.tailSize))
        guard Array(tail[(4 + PartFraming.signatureSize)...]) == PartFraming.endMagic else {
            throw Self.explainMissingEnd(file: file, size: size, path: path)
        }
        let trailerLength = Int(PartFraming.readBigEndian(tail[0..<4]))
        signature = Array(tail[4..<(4 + PartFraming.signatureSize)])
        guard trailerLength <= PartFraming.maxJSONSize,
            ciphertextOffset + Int64(trailerLength + PartFraming.tailSize) <= size
        else {
            throw BundleError(.notABundle, "the bundle trailer length is inconsistent with the file size", path: path)
        }
        let trailerOffset = size - Int64(PartFraming.tailSize + trailerLength)
        trailerBytes = try file.read(count: trailerLength, at: trailerOffset)
        do {
            trailer = try StrictJSONDecoder(refusesUnknownKeys: true).decode(BundleTrailer.self, from: trailerBytes)
        } catch {
            throw BundleError(.notABundle, "the bundle trailer is not valid: \(error)", path: path)
        }
        guard trailer.length >= 0, trailer.totalLength >= trailer.length else {
            throw BundleError(
                .notABundle,
                "the bundle trailer's field 'length' (\(trailer.length)) or 'total_length' (\(trailer.totalLength)) "
                    + "is negative or inconsistent", path: path)
        }
        guard trailer.length == trailerOffset - ciphertextOffset else {
            let actual = trailerOffset - ciphertextOffset
            let code: BundleError.Code = actual < trailer.length ? .truncated : .trailingData
            throw BundleError(
                code, "the part holds \(actual) ciphertext bytes but its trailer says \(trailer.length)", path: path)
        }
        guard (1...PartFraming.maxParts).contains(trailer.parts), (1...trailer.parts).contains(trailer.part) else {
            throw BundleError(.notABundle, "the trailer names part \(trailer.part) of \(trailer.parts)", path: path)
        }
    }

    /// Ciphertext bytes in this part.
    var ciphertextLength: Int64 { trailer.length }

    /// A file without the end magic was either cut short or had bytes appended; look for the magic to tell which.
    private static func explainMissingEnd(file: FileDescriptor, size: Int64, path: String) -> BundleError {
        let window = Int(min(size, 1 << 20))
        if let bytes = try? file.read(count: window, at: size - Int64(window)) {
            let magic = PartFraming.endMagic
            var index = bytes.count - magic.count
            while index >= 0 {
                if bytes[index] == magic[0], Array(bytes[index..<index + magic.count]) == magic {
                    let extra = bytes.count - (index + magic.count)
                    return BundleError(
                        .trailingData, "\(extra) unexpected bytes follow the end of the bundle", path: path)
                }
                index -= 1
            }
        }
        return BundleError(
            .truncated,
            "the bundle is truncated: its signed trailer is missing (was the copy interrupted?)", path: path)
    }
}
