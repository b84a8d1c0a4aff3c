import FieldSyncBundle
import FieldSyncCore

/// One change with the table it belongs to, as written to or read from a bundle.
public struct TableChange: Sendable {
    public var table: String
    public var change: Change

    public init(table: String, change: Change) {
        self.table = table
        self.change = change
    }

    /// Same table and ``Change/isIdentical(to:)``.
    public func isIdentical(to other: TableChange) -> Bool {
        table == other.table && change.isIdentical(to: other.change)
    }
}

/// Writing and reading whole bundles through the public API, for tests.
public enum BundleFixtures {
    /// Writes `changes` (in order) as one bundle from `sender` to `recipient`.
    public static func write(
        _ changes: [TableChange], tables: [TableSchema], configuration: BundleWriter.Configuration,
        sender: NodeKeys, recipient: PublicIdentity
    ) throws -> BundleWriter.Result {
        let writer = try BundleWriter(
            configuration: configuration, tables: tables, sender: sender, recipient: recipient)
        for item in changes { try writer.append(item.change, to: item.table) }
        return try writer.finish()
    }

    /// Checks, opens and reads a bundle to its authenticated end, the way an importer must.
    ///
    /// - Returns: every change in order, and the opened contents (manifest and batch index).
    @discardableResult
    public static func readAll(
        _ paths: [String], findSiblings: Bool = true, sender: PublicIdentity, recipient: NodeKeys,
        limits: ArchiveLimits = .default
    ) throws -> (changes: [TableChange], contents: BundleContents) {
        let reader = try BundleReader(paths: paths, findSiblings: findSiblings)
        try reader.verify(sender: sender)
        let contents = try reader.open(recipient: recipient, limits: limits)
        var changes: [TableChange] = []
        while let batch = try contents.nextBatch() {
            try batch.forEach { changes.append(TableChange(table: batch.schema.name, change: $0)) }
        }
        return (changes, contents)
    }

    /// Whether two change lists are identical, item by item.
    public static func identical(_ a: [TableChange], _ b: [TableChange]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.isIdentical(to: $1) }
    }

    /// A table `samples(id integer primary key, payload blob)` and `count` changes to it carrying `blobSize`
    /// random (incompressible) bytes each: a way to make bundles of a chosen size.
    public static func randomBlobs(count: Int, blobSize: Int, seed: UInt64, origin: String = "site-a") throws
        -> (table: TableSchema, changes: [TableChange])
    {
        let table = try TableSchema(
            name: "samples",
            columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "payload", type: .blob)],
            primaryKey: ["id"])
        var random = SeededGenerator(seed: seed)
        let changes = (0..<count).map { index in
            TableChange(
                table: "samples",
                change: Change(
                    operation: .insert, origin: origin, originSequence: Int64(index + 1),
                    values: [.integer(Int64(index)), .blob(random.bytes(blobSize))]))
        }
        return (table, changes)
    }
}
