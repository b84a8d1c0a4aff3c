/// One captured change to one row of a synced table.
///
/// A change says what happened (insert, update, delete), who made it first (the origin node and that node's own
/// change counter), which hub version it was based on, and which columns it changed. Deletes are tombstones:
/// only the primary-key values are meaningful.
public struct Change: Sendable, Hashable {
    /// What happened to the row.
    public enum Operation: String, Sendable, Hashable, Codable {
        case insert = "I"
        case update = "U"
        case delete = "D"
    }

    public var operation: Operation
    /// The node where the change was first made.
    public var origin: String
    /// The origin's own change counter for this change; increases with every change made there.
    public var originSequence: Int64
    /// The hub version of the row that the change was made on; 0 when the origin had never seen the row from the hub.
    public var baseVersion: Int64
    /// The hub's version of this change, in bundles the hub writes; `nil` in a site's bundles.
    public var version: Int64?
    /// The columns the change wrote; `nil` means all of them.
    public var changedColumns: ColumnSet?
    /// One value per column of the table's schema, in schema order.
    public var values: [Value]
    /// When the change was made, by the origin's clock, as ISO 8601 UTC text (`2026-11-26T09:13:33.123Z`);
    /// `nil` when unknown (bundles from before edit times were carried, rows present when tracking began).
    public var changedAt: String?

    public init(
        operation: Operation, origin: String, originSequence: Int64, baseVersion: Int64 = 0,
        version: Int64? = nil, changedColumns: ColumnSet? = nil, values: [Value], changedAt: String? = nil
    ) {
        self.operation = operation
        self.origin = origin
        self.originSequence = originSequence
        self.baseVersion = baseVersion
        self.version = version
        self.changedColumns = changedColumns
        self.values = values
        self.changedAt = changedAt
    }
}

extension Change {
    /// The same change over another column order: `mapping[i]` is the position in this change of the column that
    /// comes i-th in the other order. Changed columns are mapped too.
    public func projected(onto mapping: [Int]) -> Change {
        var projected = self
        projected.values = mapping.map { values[$0] }
        if let changed = changedColumns {
            projected.changedColumns = ColumnSet(mapping.indices.filter { changed.contains(mapping[$0]) })
        }
        return projected
    }
}

/// A set of column positions, as a bit set.
public struct ColumnSet: Sendable, Hashable {
    /// Bit `i % 64` of word `i / 64` marks column `i`.
    public private(set) var words: [UInt64]

    public init() { words = [] }

    public init<S: Sequence>(_ indexes: S) where S.Element == Int {
        words = []
        for index in indexes { insert(index) }
    }

    public mutating func insert(_ index: Int) {
        precondition(index >= 0, "column index must not be negative")
        let word = index / 64
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        words[word] |= 1 << UInt64(index % 64)
    }

    public func contains(_ index: Int) -> Bool {
        let word = index / 64
        return word < words.count && words[word] & (1 << UInt64(index % 64)) != 0
    }

    /// The positions in the set, ascending.
    public var indexes: [Int] {
        var result: [Int] = []
        for (wordIndex, word) in words.enumerated() where word != 0 {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { result.append(wordIndex * 64 + bit) }
        }
        return result
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    public static func == (lhs: ColumnSet, rhs: ColumnSet) -> Bool { lhs.indexes == rhs.indexes }
    public func hash(into hasher: inout Hasher) { hasher.combine(indexes) }
}
