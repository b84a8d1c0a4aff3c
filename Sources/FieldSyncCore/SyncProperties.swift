/// Names of the positions and bookkeeping that sync bundles carry, in the signed header's `prerequisites` and
/// the encrypted manifest's `properties`.
///
/// A site's delta bundle says what it has received from the hub; the hub's return bundle says what it has
/// applied from the site. Together they make every bundle cumulative until acknowledged.
public enum SyncProperty {
    /// Prerequisite of a site's bundle: the sequence of the last return bundle the site applied.
    public static let acknowledgedReturn = "acknowledged_return"
    /// Prerequisite of a site's bundle: the highest hub version the site has applied.
    public static let hubVersion = "hub_version"
    /// Property of a site's bundle: the site's change counter when the bundle was written; every change up to it
    /// that the hub has not acknowledged is in the bundle.
    public static let changesThrough = "changes_through"
    /// Prerequisite of a return bundle: the sequence of the last site bundle the hub applied.
    public static let acknowledgedSequence = "acknowledged_sequence"
    /// Property of a return bundle: the site change counter up to which the hub has applied everything.
    public static let acknowledgedChange = "acknowledged_change"
    /// Property of a return bundle: the hub version up to which the bundle carries every change in scope.
    public static let throughVersion = "through_version"
    /// Property of a return bundle: JSON array of ``RowOutcome`` for the site's conflicted and rejected rows.
    public static let outcomes = "outcomes"
}

/// What became of one row a site sent: kept by the hub after a conflict, or set aside because it could not be
/// applied. Travels back to the site in a return bundle.
public struct RowOutcome: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable {
        /// A conflict: the hub kept its own row; the site's version is recorded at the hub. The hub's row comes
        /// with it.
        case conflictHubKept = "conflict_hub_kept"
        /// A conflict the site's version won (client_wins, last_write_wins); nothing to correct.
        case conflictSiteApplied = "conflict_site_applied"
        /// A conflict settled by combining columns of both sides; the merged row comes with it.
        case conflictMerged = "conflict_merged"
        /// A conflict waiting for a person at the hub; the site keeps its version until it is decided.
        case conflictPending = "conflict_pending"
        /// A person decided a conflict; the decided row comes with it, and the site takes it even over a newer
        /// local edit, which it then makes again on top of the decided row (``RowOutcome/values``).
        case resolved
        /// The row could not be applied (a constraint at the hub); the reason says why. The hub's own state of the
        /// row comes with it, so the site comes back in step; the site keeps its version in its outcomes.
        case rejected
        /// The whole table could not be applied (unknown at the hub, a column the hub lacks); the site keeps its
        /// rows as they are until the hub's schema is fixed and the rows are retried there.
        case rejectedKept = "rejected_kept"
        /// Not a problem: the site judged a hub change against an older row, so the hub sends its current row again.
        case resend
    }

    public var kind: Kind
    public var table: String
    /// The row's primary key as a JSON array.
    public var key: String
    /// The site's change counter of the change concerned.
    public var originSequence: Int64
    /// The hub's id for the conflict or rejection, for `fieldsync conflicts show`.
    public var id: Int64
    public var reason: String
    /// For ``Kind/resolved``: the site's version as the hub recorded it, a JSON object of column name to value
    /// (``Value/jsonText``). A column whose local value differs from it was edited again at the site since.
    public var values: String?

    public init(
        kind: Kind, table: String, key: String, originSequence: Int64, id: Int64, reason: String,
        values: String? = nil
    ) {
        self.kind = kind
        self.table = table
        self.key = key
        self.originSequence = originSequence
        self.id = id
        self.reason = reason
        self.values = values
    }

    /// Whether the hub's current row travels with the outcome, so the site comes back in step.
    public var carriesHubRow: Bool {
        switch kind {
        case .conflictHubKept, .conflictMerged, .rejected, .resend, .resolved: true
        case .conflictSiteApplied, .conflictPending, .rejectedKept: false
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, table, key, originSequence = "origin_seq", id, reason, values
    }
}
