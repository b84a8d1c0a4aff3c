import FieldSyncCore

extension Value {
    /// Whether two values are the same bit for bit: reals by bit pattern (so `-0.0` differs from `0.0` and NaN
    /// equals the same NaN), text by its UTF-8 bytes (Swift's `==` would equate canonically equivalent strings).
    public func isIdentical(to other: Value) -> Bool {
        switch (self, other) {
        case (.null, .null): true
        case (.integer(let a), .integer(let b)): a == b
        case (.real(let a), .real(let b)): a.bitPattern == b.bitPattern
        case (.text(let a), .text(let b)): Array(a.utf8) == Array(b.utf8)
        case (.blob(let a), .blob(let b)): a == b
        default: false
        }
    }
}

extension Change {
    /// Whether two changes are the same field by field, values compared with ``Value/isIdentical(to:)``.
    public func isIdentical(to other: Change) -> Bool {
        operation == other.operation && Array(origin.utf8) == Array(other.origin.utf8)
            && originSequence == other.originSequence && baseVersion == other.baseVersion
            && version == other.version && changedColumns == other.changedColumns
            && values.count == other.values.count
            && zip(values, other.values).allSatisfy { $0.isIdentical(to: $1) }
    }
}
