/// The hub's current state of one row, as conflict detection needs it.
public struct HubRowState: Sendable {
    /// The row's values in schema order (for a tombstone: the last values it had).
    public var values: [Value]
    /// The hub version that last changed the row.
    public var version: Int64
    /// The node whose change made that version; `nil` when it was made at the hub itself.
    public var origin: String?
    /// Whether the row is a tombstone.
    public var deleted: Bool
    /// When the row's current values were made, on the hub's clock (seconds since 1970): `sync_modified_at`, which
    /// for a row from a site holds the site's edit time as ``SiteClock`` corrected it. `nil` if unknown.
    public var modifiedAt: Double?

    public init(values: [Value], version: Int64, origin: String?, deleted: Bool, modifiedAt: Double? = nil) {
        self.values = values
        self.version = version
        self.origin = origin
        self.deleted = deleted
        self.modifiedAt = modifiedAt
    }
}

/// Decides what an incoming change does to the hub's row.
///
/// A conflict is: the hub's row changed since the version the change was based on, by another origin, and the
/// values differ. Identical edits are not conflicts; a change that would leave the row as it is does nothing.
public enum ConflictJudge {
    /// The outcome for one incoming change.
    public enum Decision: Sendable, Equatable {
        /// Write the change (insert, update or tombstone).
        case apply
        /// The hub's row already holds what the change says; nothing to write.
        case unchanged
        /// The hub's row changed meanwhile by someone else and differs: a conflict.
        case conflict
    }

    /// Judges `change` against the hub's current row (`nil` if the hub has never had the row).
    ///
    /// - Parameter schema: the table's schema; its primary-key columns are ignored when comparing values.
    /// - Parameter retry: the change was set aside and is tried again later: anything since its base, even a
    ///   later change from its own site, is newer than it and counts as someone else's.
    public static func judge(_ change: Change, hub: HubRowState?, schema: TableSchema, retry: Bool = false)
        -> Decision
    {
        guard let hub else {
            return change.operation == .delete ? .unchanged : .apply
        }
        if sameResult(change, hub: hub, schema: schema) { return .unchanged }
        let changedSinceBase = hub.version != change.baseVersion
        let bySomeoneElse = retry || hub.origin != change.origin
        return changedSinceBase && bySomeoneElse ? .conflict : .apply
    }

    /// What a hub store does with one incoming change: the judgement, and for an unchanged row whether the site
    /// needs the hub's row again.
    public enum Action: Sendable, Equatable {
        case apply
        /// Nothing to write. With `resend`, the site based its edit on an older row changed by someone else (it
        /// kept its edit over a newer hub change): the columns it did not touch may be out of date there, so the
        /// hub sends its row again.
        case unchanged(resend: Bool)
        case conflict
    }

    /// The action for `change` against the hub's current row; see ``judge(_:hub:schema:)``.
    public static func action(for change: Change, hub: HubRowState?, schema: TableSchema, retry: Bool = false)
        -> Action
    {
        switch judge(change, hub: hub, schema: schema, retry: retry) {
        case .apply: return .apply
        case .conflict: return .conflict
        case .unchanged:
            guard let hub else { return .unchanged(resend: false) }
            return .unchanged(resend: hub.version != change.baseVersion && hub.origin != change.origin)
        }
    }

    /// Whether `change` claims a base version the hub never gave the row: above the row's current version. A row's
    /// version only grows, and a site learns versions only from the hub, so no site can have based an edit on it.
    public static func hasImpossibleBase(_ change: Change, hub: HubRowState?) -> Bool {
        guard let hub else { return false }
        return change.baseVersion > hub.version
    }

    /// `change` with its base version lowered to `ceiling`, the highest hub version the sending site can know (the
    /// highest version any return bundle the hub wrote for it may carry), and whether it was lowered.
    ///
    /// A site learns versions only from the hub's return bundles: its own changes' versions never go back to it, so
    /// its next edit of a row it changed itself still names the version it had before. A base above what the hub
    /// ever sent the site is made up (a buggy or hostile site); taken as said, a base equal to the row's current
    /// version would overwrite an edit made at the hub without a conflict. Lowered to the ceiling, the change is
    /// judged as made on the newest row the site can have seen: a conflict when someone else changed the row since.
    public static func clampingBase(_ change: Change, to ceiling: Int64) -> (change: Change, clamped: Bool) {
        guard change.baseVersion > ceiling else { return (change, false) }
        var clamped = change
        clamped.baseVersion = max(0, ceiling)
        return (clamped, true)
    }

    /// Whether applying `change` would leave the hub's row as it already is.
    static func sameResult(_ change: Change, hub: HubRowState, schema: TableSchema) -> Bool {
        switch change.operation {
        case .delete:
            return hub.deleted
        case .insert, .update:
            guard !hub.deleted else { return false }
            for index in 0..<schema.columns.count {
                if let changed = change.changedColumns, !changed.contains(index) { continue }
                guard index < hub.values.count, change.values[index].isSameValue(as: hub.values[index]) else {
                    return false
                }
            }
            return true
        }
    }
}
