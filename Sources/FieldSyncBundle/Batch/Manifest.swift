import FieldSyncCore

/// The first entry of a bundle's payload (`manifest.json`): who wrote it and the schema of every table it carries.
///
/// It repeats the bundle id, kind, sender and recipient of the signed header; a reader refuses a payload whose
/// manifest disagrees with the signer.
public struct BundleManifest: Sendable, Codable, Equatable {
    public var format: String
    public var version: Int
    public var bundleID: String
    public var kind: BundleKind
    public var sender: String
    public var recipient: String
    /// How batches are encoded: `copy-text-1`.
    public var encoding: String
    /// The names of the change columns that precede the table's columns on every batch line: the seven of
    /// ``changeColumnNames`` (this FieldSync writes them), or the six of ``legacyChangeColumnNames`` (bundles
    /// written before edit times travelled, still read).
    public var changeColumns: [String]
    /// Every table that batches may name, in the order they are applied.
    public var tables: [TableSchema]
    /// Sync bookkeeping the sender attaches (acknowledgements, positions), by name; documented per bundle kind.
    public var properties: [String: String]

    enum CodingKeys: String, CodingKey {
        case format, version, bundleID = "bundle_id", kind, sender, recipient, encoding
        case changeColumns = "change_columns", tables, properties
    }

    static let entryName = "manifest.json"
    static let formatName = "fieldsync-manifest"
    static let encodingName = "copy-text-1"
    /// The change columns this FieldSync writes.
    static let changeColumnNames = [
        "op", "version", "origin", "origin_seq", "base_version", "changed", "changed_at",
    ]
    /// The change columns of bundles written before `changed_at` was added; read with ``Change/changedAt`` `nil`.
    static let legacyChangeColumnNames = ["op", "version", "origin", "origin_seq", "base_version", "changed"]

    /// The schema of the table called `name`.
    public func table(named name: String) -> TableSchema? {
        tables.first { $0.name == name }
    }
}

/// An inclusive range of 64-bit positions (versions or origin sequences).
public struct PositionRange: Sendable, Codable, Equatable {
    public var min: Int64
    public var max: Int64

    mutating func include(_ value: Int64) {
        min = Swift.min(min, value)
        max = Swift.max(max, value)
    }
}

/// What one batch entry holds, as listed in the batch index.
public struct BatchInfo: Sendable, Codable, Equatable {
    /// The archive entry name, `batches/NNNNNN.TABLE.tsv`.
    public var entry: String
    public var table: String
    public var rows: Int
    /// Uncompressed bytes of the entry.
    public var bytes: Int
    /// Range of the origins' change counters in the batch.
    public var originSequence: PositionRange?
    /// Range of hub versions in the batch (bundles from the hub).
    public var version: PositionRange?

    enum CodingKeys: String, CodingKey {
        case entry, table, rows, bytes, originSequence = "origin_seq", version
    }
}

/// The last entry of a payload (`batches.json`): every batch with its row count and ranges.
///
/// Written last because counts are known only once the batches are; a reader checks every batch against it
/// before the bundle's transaction may commit.
public struct BatchIndex: Sendable, Codable, Equatable {
    public var batches: [BatchInfo]
    public var rows: Int

    static let entryName = "batches.json"
}
