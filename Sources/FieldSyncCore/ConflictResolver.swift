/// What became of a conflict.
public enum ConflictDecision: String, Sendable, Codable, CaseIterable {
    /// The hub kept its row; the site's version is recorded.
    case hubKept = "hub_kept"
    /// The site's version was applied over the hub's row.
    case siteApplied = "site_applied"
    /// Columns from both sides were combined (field_merge).
    case merged
    /// Waiting for a person; the hub keeps its current row meanwhile.
    case pending
    /// Decided by a person: the site's version, the hub's row, or a merged row.
    case resolvedSite = "resolved_site"
    case resolvedHub = "resolved_hub"
    case resolvedMerged = "resolved_merged"

    /// Whether someone still has to decide.
    public var isPending: Bool { self == .pending }

    /// Whether a person decided it (`fieldsync conflicts resolve`); until then a person may still decide, also
    /// over what the rule chose.
    public var isResolved: Bool {
        switch self {
        case .resolvedSite, .resolvedHub, .resolvedMerged: true
        case .hubKept, .siteApplied, .merged, .pending: false
        }
    }
}

/// How a conflict is settled: the decision, and what to write at the hub.
public struct ConflictVerdict: Sendable, Equatable {
    public var decision: ConflictDecision
    /// The change to write at the hub (insert, update or tombstone), or `nil` to keep the hub's row.
    public var write: Change?
    /// Columns (positions in the schema) the sides both changed, or that could not merge: what the fallback
    /// settled. Empty unless the rule is `field_merge`.
    public var contested: [Int]
    /// Whether the field merge had the row as the site last had it; without it, the whole row went to the fallback.
    public var baseKnown: Bool

    public init(decision: ConflictDecision, write: Change?, contested: [Int] = [], baseKnown: Bool = false) {
        self.decision = decision
        self.write = write
        self.contested = contested
        self.baseKnown = baseKnown
    }
}

/// Settles a conflict (``ConflictJudge`` found one) by the table's rule. Pure: the stores supply the hub's row,
/// the row as the site last had it (for `field_merge`) and the edit time, and write what the verdict says.
public enum ConflictResolver {
    /// Settles `change` against the hub's row `hub` by `rule`.
    ///
    /// - Parameters:
    ///   - base: the hub's row at the change's base version, in schema order, when the hub still has it (only
    ///     `field_merge` asks for it); `nil` sends the whole row to the fallback.
    ///   - editTime: the change's edit time on the hub's clock (``SiteClock/editTime(_:)``).
    public static func settle(
        _ change: Change, hub: HubRowState, schema: TableSchema, rule: ConflictRule, base: [Value]?,
        editTime: Double
    ) -> ConflictVerdict {
        guard rule.strategy == .fieldMerge else {
            return whole(change, hub: hub, strategy: rule.strategy, editTime: editTime)
        }
        guard let base, base.count == schema.columns.count, change.operation != .delete, !hub.deleted,
            hub.values.count == schema.columns.count
        else {
            return whole(change, hub: hub, strategy: rule.fallback, editTime: editTime)
        }
        let keys = Set(schema.primaryKeyIndexes)
        let mergeable = rule.mergeFields.map { Set($0.compactMap(schema.columnIndex(named:))) }
        var merged = hub.values
        var contested: [Int] = []
        for column in schema.columns.indices where !keys.contains(column) {
            if let changed = change.changedColumns, !changed.contains(column) { continue }
            let site = change.values[column]
            guard !site.isSameValue(as: base[column]) else { continue }  // not changed at the site
            if site.isSameValue(as: hub.values[column]) { continue }  // the same edit on both sides
            let changedAtHub = !hub.values[column].isSameValue(as: base[column])
            if changedAtHub || !(mergeable?.contains(column) ?? true) {
                contested.append(column)
            } else {
                merged[column] = site
            }
        }
        var siteTakes = false
        if !contested.isEmpty {
            switch rule.fallback {
            case .serverWins, .fieldMerge: siteTakes = false
            case .clientWins: siteTakes = true
            case .lastWriteWins: siteTakes = editTime > (hub.modifiedAt ?? -.infinity)
            case .manual:
                return ConflictVerdict(decision: .pending, write: nil, contested: contested, baseKnown: true)
            }
            if siteTakes {
                for column in contested { merged[column] = change.values[column] }
            }
        }
        let unchanged = zip(merged, hub.values).allSatisfy { $0.isSameValue(as: $1) }
        var write = change
        write.operation = .update
        write.values = merged
        write.changedColumns = nil
        return ConflictVerdict(
            decision: unchanged ? .hubKept : .merged, write: unchanged ? nil : write, contested: contested,
            baseKnown: true)
    }

    /// A whole-row strategy (also the fallback of a field merge that cannot merge).
    static func whole(_ change: Change, hub: HubRowState, strategy: ConflictStrategy, editTime: Double)
        -> ConflictVerdict
    {
        switch strategy {
        case .serverWins, .fieldMerge:
            return ConflictVerdict(decision: .hubKept, write: nil)
        case .clientWins:
            return ConflictVerdict(decision: .siteApplied, write: change)
        case .lastWriteWins:
            // A tie keeps the hub's row, so the outcome does not depend on which side is asked first.
            let siteLater = editTime > (hub.modifiedAt ?? -.infinity)
            return ConflictVerdict(decision: siteLater ? .siteApplied : .hubKept, write: siteLater ? change : nil)
        case .manual:
            return ConflictVerdict(decision: .pending, write: nil)
        }
    }
}
