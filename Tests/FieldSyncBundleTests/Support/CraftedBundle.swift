import FieldSyncCore
import FieldSyncTesting
import Foundation

@testable import FieldSyncBundle

/// Bundles built by hand from the library's internals: a legitimate envelope (sealed to the recipient, signed
/// by the sender) around a payload the real writer would never produce.
enum CraftedBundle {
    /// The table most crafted payloads declare.
    static let samples = try! TableSchema(
        name: "samples",
        columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "note", type: .text)],
        primaryKey: ["id"])

    /// A manifest that matches `header`, with fields to override.
    static func manifest(
        for header: BundleHeader, sender: String? = nil, recipient: String? = nil, bundleID: String? = nil,
        kind: BundleKind? = nil, tables: [TableSchema] = [samples]
    ) -> BundleManifest {
        BundleManifest(
            format: BundleManifest.formatName, version: 1, bundleID: bundleID ?? header.bundleID,
            kind: kind ?? header.kind, sender: sender ?? header.sender, recipient: recipient ?? header.recipient,
            encoding: BundleManifest.encodingName, changeColumns: BundleManifest.changeColumnNames, tables: tables,
            properties: [:])
    }

    /// JSON as the writer encodes it.
    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        try BundleWriter.json(value)
    }

    /// One encoded batch line per change, as the real writer encodes them.
    static func batch(_ changes: [Change], table: TableSchema = samples) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let encoder = CopyTextEncoder(schema: table)
        for change in changes { try encoder.append(change, to: &bytes) }
        return bytes
    }

    /// Seals whatever `payload` writes into the sink with a real envelope: fresh content key sealed to
    /// `recipient`, secretstream chunks, trailer signed by `sender`.
    ///
    /// - Returns: the part files, in order.
    static func seal(
        sender: NodeKeys, recipient: PublicIdentity, directory: String, baseName: String = "crafted",
        kind: BundleKind = .delta, chunkSize: Int = 1024, partSizeLimit: Int64 = 4_000_000_000,
        payload: (BundleHeader, @escaping ArchiveBuilder.Sink) throws -> Void
    ) throws -> [String] {
        let envelope = try EnvelopeWriter(
            kind: kind, keys: sender, recipient: recipient, sequence: 1, prerequisites: [:],
            configuration: .init(
                directory: directory, baseName: baseName, partSizeLimit: partSizeLimit, chunkSize: chunkSize))
        do {
            try payload(envelope.header) { try envelope.write($0) }
            return try envelope.finish()
        } catch {
            envelope.abort()
            throw error
        }
    }

    /// Seals an archive built entry by entry with ``ArchiveBuilder`` (which `build` must finish).
    static func sealArchive(
        sender: NodeKeys, recipient: PublicIdentity, directory: String, baseName: String = "crafted",
        format: ArchiveBuilder.Format = .paxRestricted, compressionLevel: Int = 3,
        build: (BundleHeader, ArchiveBuilder) throws -> Void
    ) throws -> [String] {
        try seal(sender: sender, recipient: recipient, directory: directory, baseName: baseName) { header, sink in
            let builder = try ArchiveBuilder(format: format, compressionLevel: compressionLevel, sink: sink)
            try build(header, builder)
        }
    }

    /// Seals a well-formed payload made of `entries` (path, bytes), in order, written by the library's own
    /// archive writer.
    static func sealEntries(
        sender: NodeKeys, recipient: PublicIdentity, directory: String, baseName: String = "crafted",
        entries: (BundleHeader) throws -> [(String, [UInt8])]
    ) throws -> [String] {
        try seal(sender: sender, recipient: recipient, directory: directory, baseName: baseName) { header, sink in
            let archive = try ArchiveWriter(compressionLevel: 3, sink: sink)
            for (path, bytes) in try entries(header) { try archive.addEntry(path: path, bytes: bytes) }
            try archive.finish()
        }
    }
}
