/// What can be learnt about one part file without any key: its signed header and its place in the bundle.
///
/// Nothing here is trusted until the bundle has been verified with the sender's public key.
public struct BundlePartInfo: Sendable {
    public var path: String
    public var header: BundleHeader
    /// 1-based index of this part.
    public var part: Int
    /// How many parts the bundle has.
    public var parts: Int
    /// Size of this part file in bytes.
    public var size: Int64
    /// Ciphertext bytes in this part.
    public var ciphertextLength: Int64
    /// Ciphertext bytes in all parts together.
    public var totalCiphertextLength: Int64
}

extension BundleReader {
    /// Reads the framing, header and trailer of one part file, without keys and without reading its ciphertext.
    ///
    /// - Throws: ``BundleError`` if the file is not a bundle, is truncated or has bytes appended.
    public static func inspectPart(at path: String) throws -> BundlePartInfo {
        try info(PartFile(path: path))
    }

    /// Checks one part file on its own: the sender's signature over its header and trailer, and its ciphertext
    /// digest. A courier holding one part of a split bundle can check it without the others.
    ///
    /// - Throws: ``BundleError`` as ``verify(sender:)`` does.
    @discardableResult
    public static func verifyPart(at path: String, sender: PublicIdentity) throws -> BundlePartInfo {
        let part = try PartFile(path: path)
        try EnvelopeReader.verifyPart(part, sender: sender)
        return info(part)
    }

    private static func info(_ part: PartFile) -> BundlePartInfo {
        BundlePartInfo(
            path: part.path, header: part.header, part: part.trailer.part, parts: part.trailer.parts, size: part.size,
            ciphertextLength: part.trailer.length, totalCiphertextLength: part.trailer.totalLength)
    }
}
