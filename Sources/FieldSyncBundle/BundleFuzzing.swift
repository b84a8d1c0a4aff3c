import FieldSyncCore

/// Entry points for FieldSync's fuzz harness (`Sources/fieldsync-fuzz`, `make fuzz`): they reach the readers with
/// inputs a fuzzer controls, past the signature that would otherwise stop every mutated input. Not for
/// applications: nothing here is needed to write or read a bundle.
public enum BundleFuzzing {
    /// The bundle id of every payload ``seal(payload:sender:recipient:directory:)`` seals, so that a manifest in a
    /// fuzz input can match its header.
    public static let bundleID = "00000000-0000-4000-8000-000000000000"

    /// Seals `payload` (the decrypted payload: normally a zstd frame holding the tar) into a one-part bundle
    /// from `sender` to `recipient`, kind `delta`, sequence 1, id ``bundleID``, signed and encrypted like any other.
    ///
    /// - Returns: the part file's path.
    public static func seal(payload: [UInt8], sender: NodeKeys, recipient: PublicIdentity, directory: String)
        throws -> String
    {
        let envelope = try EnvelopeWriter(
            kind: .delta, keys: sender, recipient: recipient, sequence: 1, prerequisites: [:],
            configuration: .init(
                directory: directory, baseName: "fuzz", partSizeLimit: 4_000_000_000, chunkSize: 1024),
            bundleID: bundleID)
        do {
            try payload.withUnsafeBytes { try envelope.write($0) }
            return try envelope.finish()[0]
        } catch {
            envelope.abort()
            throw error
        }
    }

    /// Signs `partFile` again as `signer`, after putting the real length and digests of its ciphertext in its
    /// trailer: a fuzzed header then reaches every check after the signature. `nil` if the framing does not parse.
    public static func resign(partFile bytes: [UInt8], signer: NodeKeys) -> [UInt8]? {
        let start = PartFraming.startMagic.count
        guard bytes.count >= start + 4 + PartFraming.tailSize, Array(bytes[0..<start]) == PartFraming.startMagic
        else { return nil }
        let headerLength = Int(PartFraming.readBigEndian(bytes[start..<start + 4]))
        let tail = bytes.count - PartFraming.tailSize
        guard headerLength <= PartFraming.maxJSONSize, start + 4 + headerLength <= tail else { return nil }
        let trailerLength = Int(PartFraming.readBigEndian(bytes[tail..<tail + 4]))
        let ciphertextStart = start + 4 + headerLength
        guard trailerLength <= PartFraming.maxJSONSize, ciphertextStart + trailerLength <= tail else { return nil }
        let headerBytes = Array(bytes[(start + 4)..<ciphertextStart])
        let ciphertext = Array(bytes[ciphertextStart..<(tail - trailerLength)])
        let digest = Digest()
        digest.update(ciphertext)
        let hex = digest.finalHex()
        let trailer = BundleTrailer(
            part: 1, parts: 1, length: Int64(ciphertext.count), digest: hex, totalLength: Int64(ciphertext.count),
            totalDigest: hex)
        guard let trailerBytes = try? BundleWriter.json(trailer),
            let signature = try? signer.sign(PartFraming.signedMessage(header: headerBytes, trailer: trailerBytes))
        else { return nil }
        return PartFraming.startMagic + PartFraming.bigEndian(UInt32(headerBytes.count)) + headerBytes + ciphertext
            + trailerBytes + PartFraming.bigEndian(UInt32(trailerBytes.count)) + signature + PartFraming.endMagic
    }

    /// Decodes `bytes` as one batch of `schema` with `changeColumnCount` (7 or 6) change columns.
    ///
    /// - Returns: the number of changes.
    @discardableResult
    public static func decodeBatch(_ bytes: [UInt8], schema: TableSchema, changeColumnCount: Int) throws -> Int {
        try bytes.withUnsafeBufferPointer {
            try CopyTextDecoder(schema: schema, source: "fuzz", changeColumnCount: changeColumnCount)
                .forEach(in: $0) { _ in }
        }
    }

    /// Encodes `changes` of `schema` as batch lines, as the writer does.
    public static func encodeBatch(_ changes: [Change], schema: TableSchema) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let encoder = CopyTextEncoder(schema: schema)
        for change in changes { try encoder.append(change, to: &bytes) }
        return bytes
    }

    /// Reads `bytes` with the strict JSON reader as a header, a manifest and a batch index, each as the bundle
    /// reader does. Throws the first refusal.
    public static func decodeDocuments(_ bytes: [UInt8]) throws {
        let value = try StrictJSON.parse(bytes)
        var firstError: (any Error)?
        do {
            let header = try StrictJSONDecoder(refusesUnknownKeys: false).decode(BundleHeader.self, from: value)
            try header.checkNumbers(path: nil)
        } catch { firstError = firstError ?? error }
        do {
            _ = try StrictJSONDecoder(refusesUnknownKeys: true).decode(BundleManifest.self, from: value)
        } catch { firstError = firstError ?? error }
        do {
            _ = try StrictJSONDecoder(refusesUnknownKeys: true).decode(BatchIndex.self, from: value)
        } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }

    /// A payload as FieldSync writes it (zstd-compressed tar through libarchive): a manifest naming ``bundleID``,
    /// `sender` and `recipient` with `tables`, one batch per table of `batches`, and the index.
    public static func payload(
        sender: String, recipient: String, tables: [TableSchema], batches: [(table: String, bytes: [UInt8])]
    ) throws -> [UInt8] {
        var out: [UInt8] = []
        let archive = try ArchiveWriter(compressionLevel: 3) { out.append(contentsOf: $0) }
        let manifest = BundleManifest(
            format: BundleManifest.formatName, version: 1, bundleID: bundleID, kind: .delta, sender: sender,
            recipient: recipient, encoding: BundleManifest.encodingName,
            changeColumns: BundleManifest.changeColumnNames, tables: tables, properties: [:])
        try archive.addEntry(path: BundleManifest.entryName, bytes: try BundleWriter.json(manifest))
        var infos: [BatchInfo] = []
        for (number, batch) in batches.enumerated() {
            let digits = String(number + 1)
            let entry = "batches/" + String(repeating: "0", count: 6 - digits.count) + digits + ".\(batch.table).tsv"
            try archive.addEntry(path: entry, bytes: batch.bytes)
            let rows = batch.bytes.filter { $0 == 10 }.count
            infos.append(BatchInfo(entry: entry, table: batch.table, rows: rows, bytes: batch.bytes.count))
        }
        let index = BatchIndex(batches: infos, rows: infos.reduce(0) { $0 + $1.rows })
        try archive.addEntry(path: BatchIndex.entryName, bytes: try BundleWriter.json(index))
        try archive.finish()
        return out
    }
}
