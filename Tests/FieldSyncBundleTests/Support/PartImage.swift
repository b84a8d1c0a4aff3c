import FieldSyncTesting
import Foundation

@testable import FieldSyncBundle

/// One part file taken apart into its fields, to be edited and written back, optionally re-signed.
///
/// Layout: `FSBUNDLE | u32be H | header | ciphertext | trailer | u32be T | signature(64) | FSBTRAIL`.
struct PartImage {
    var headerBytes: [UInt8]
    var ciphertext: [UInt8]
    var trailerBytes: [UInt8]
    var signature: [UInt8]

    init(path: String) throws {
        let part = try PartFile(path: path)
        headerBytes = part.headerBytes
        trailerBytes = part.trailerBytes
        signature = part.signature
        let all = try FileBytes.read(path)
        let start = Int(part.ciphertextOffset)
        ciphertext = Array(all[start..<start + Int(part.ciphertextLength)])
    }

    var header: BundleHeader {
        get throws { try JSONDecoder().decode(BundleHeader.self, from: Data(headerBytes)) }
    }

    var trailer: BundleTrailer {
        get throws { try JSONDecoder().decode(BundleTrailer.self, from: Data(trailerBytes)) }
    }

    /// The file's bytes.
    var bytes: [UInt8] {
        PartFraming.startMagic + PartFraming.bigEndian(UInt32(headerBytes.count)) + headerBytes + ciphertext
            + trailerBytes + PartFraming.bigEndian(UInt32(trailerBytes.count)) + signature + PartFraming.endMagic
    }

    func write(to path: String) throws {
        try FileBytes.write(bytes, to: path)
    }

    /// Byte ranges of each region of the file, for damaging one region at a time.
    var regions: [(name: String, range: Range<Int>)] {
        var offset = 0
        func next(_ name: String, _ count: Int) -> (name: String, range: Range<Int>) {
            defer { offset += count }
            return (name, offset..<offset + count)
        }
        return [
            next("start magic", 8), next("header length", 4), next("header", headerBytes.count),
            next("ciphertext", ciphertext.count), next("trailer", trailerBytes.count), next("trailer length", 4),
            next("signature", PartFraming.signatureSize), next("end magic", 8),
        ]
    }

    /// Size of the secretstream header at the start of the ciphertext (`crypto_secretstream_…_HEADERBYTES`).
    static let streamHeaderSize = 24
    /// Bytes a secretstream chunk adds to its plaintext (`crypto_secretstream_…_ABYTES`).
    static let chunkOverhead = 17
}

/// All parts of a bundle, to edit and then re-sign as if the sender had written them.
struct BundleImage {
    var parts: [PartImage]
    let paths: [String]

    init(paths: [String]) throws {
        self.paths = paths
        parts = try paths.map(PartImage.init(path:))
    }

    /// Re-encodes every part's header after `edit` (the header bytes of all parts stay identical).
    mutating func editHeader(_ edit: (inout BundleHeader) -> Void) throws {
        var header = try parts[0].header
        edit(&header)
        let bytes = try Array(PartFraming.encoder().encode(header))
        for index in parts.indices { parts[index].headerBytes = bytes }
    }

    /// Replaces `old` with `new` in every part's header bytes (a byte-level edit that keeps key order).
    mutating func replaceInHeader(_ old: String, with new: String) throws {
        let text = String(decoding: parts[0].headerBytes, as: UTF8.self)
        guard text.contains(old) else { throw ImageError(description: "header has no '\(old)'") }
        let bytes = Array(text.replacingOccurrences(of: old, with: new).utf8)
        for index in parts.indices { parts[index].headerBytes = bytes }
    }

    /// The whole ciphertext, all parts in order.
    var ciphertext: [UInt8] { parts.flatMap(\.ciphertext) }

    /// Puts `ciphertext` back into the parts, keeping each part's length except the last, which takes the rest.
    mutating func setCiphertext(_ ciphertext: [UInt8]) {
        var offset = 0
        for index in parts.indices {
            let count = index == parts.count - 1 ? ciphertext.count - offset : parts[index].ciphertext.count
            parts[index].ciphertext = Array(ciphertext[offset..<offset + count])
            offset += count
        }
    }

    /// Recomputes every trailer's lengths and digests from the ciphertext and signs every part with `signer`.
    mutating func reseal(signer: NodeKeys) throws {
        let total = Digest()
        for part in parts { total.update(part.ciphertext) }
        let totalDigest = total.finalHex()
        let totalLength = Int64(parts.reduce(0) { $0 + $1.ciphertext.count })
        for index in parts.indices {
            let digest = Digest()
            digest.update(parts[index].ciphertext)
            let trailer = BundleTrailer(
                part: index + 1, parts: parts.count, length: Int64(parts[index].ciphertext.count),
                digest: digest.finalHex(), totalLength: totalLength, totalDigest: totalDigest)
            parts[index].trailerBytes = try Array(PartFraming.encoder().encode(trailer))
            try resign(part: index, signer: signer)
        }
    }

    /// Signs part `index`'s current header and trailer with `signer`, changing nothing else.
    mutating func resign(part index: Int, signer: NodeKeys) throws {
        parts[index].signature = try signer.sign(
            PartFraming.signedMessage(header: parts[index].headerBytes, trailer: parts[index].trailerBytes))
    }

    /// Writes the parts back over the files they were read from.
    func write() throws {
        for (part, path) in zip(parts, paths) { try part.write(to: path) }
    }

    struct ImageError: Error, CustomStringConvertible {
        var description: String
    }
}
