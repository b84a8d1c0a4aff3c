import Foundation

/// A batch of changes to one table, read from an incoming bundle.
public protocol ChangeBatchSource {
    /// The sender's schema of the table.
    var schema: TableSchema { get }
    /// Calls `body` with each change in order; returns how many.
    @discardableResult
    func forEach(_ body: (Change) throws -> Void) throws -> Int
}

/// A verified, decrypted bundle from a site, ready to be applied by a hub store.
public struct IncomingBundle {
    public var bundleID: String
    public var site: String
    public var sequence: UInt64
    public var prerequisites: [String: Int64]
    public var properties: [String: String]
    /// The file the bundle came from, for messages and the log.
    public var source: String
    /// When the site wrote the bundle, by the site's clock (the header's `created`).
    public var created: String
    /// When the hub received the bundle, on the hub's clock (seconds since 1970).
    public var received: Double
    /// The next batch, or `nil` once every batch has been read and the bundle's index checked.
    public var nextBatch: () throws -> (any ChangeBatchSource)?

    public init(
        bundleID: String, site: String, sequence: UInt64, prerequisites: [String: Int64],
        properties: [String: String], source: String, created: String = "",
        received: Double = Date().timeIntervalSince1970,
        nextBatch: @escaping () throws -> (any ChangeBatchSource)?
    ) {
        self.bundleID = bundleID
        self.site = site
        self.sequence = sequence
        self.prerequisites = prerequisites
        self.properties = properties
        self.source = source
        self.created = created
        self.received = received
        self.nextBatch = nextBatch
    }
}

/// What ingesting one site bundle did.
public struct IngestReport: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        case applied
        /// This very bundle was applied before; nothing changed.
        case alreadyApplied = "already_applied"
        /// A newer bundle from the same site was applied already and carried everything this one does.
        case superseded
    }

    public var status: Status
    public var site: String
    public var bundleID: String
    public var sequence: UInt64
    /// Bundles from the site that never arrived (nothing is lost: this one carries their changes).
    public var missedSequences: ClosedRange<UInt64>?
    public var applied = 0
    /// Changes that matched the hub's row already.
    public var unchanged = 0
    /// Changes applied from an earlier bundle.
    public var alreadyApplied = 0
    public var conflicts = 0
    /// Conflicts waiting for a person (manual rules); counted in ``conflicts`` too.
    public var pendingConflicts = 0
    public var rejected = 0
    /// Changes that claimed a base version above the hub row's version (``ConflictJudge/hasImpossibleBase(_:hub:)``),
    /// judged as made on an older row.
    public var impossibleBases = 0
    /// Changes that claimed a base version above anything the hub ever sent the site, judged with the highest
    /// version the site can know instead (``ConflictJudge/clampingBase(_:to:)``).
    public var clampedBases = 0
    /// Seconds the site's clock was found off and corrected by (``SiteClock``); `nil` when within tolerance.
    public var clockOffset: Double?

    public init(status: Status, site: String, bundleID: String, sequence: UInt64) {
        self.status = status
        self.site = site
        self.bundleID = bundleID
        self.sequence = sequence
    }
}

/// What a return bundle to one site will hold, fixed before its rows are read.
public struct ReturnPlan: Sendable {
    public var site: String
    public var sequence: UInt64
    public var tables: [TableSchema]
    public var prerequisites: [String: Int64]
    public var properties: [String: String]
    /// Hub changes after this version and up to ``throughVersion`` go in the bundle.
    public var afterVersion: Int64
    public var throughVersion: Int64
    public var outcomes: [RowOutcome]

    public init(
        site: String, sequence: UInt64, tables: [TableSchema], prerequisites: [String: Int64],
        properties: [String: String], afterVersion: Int64, throughVersion: Int64, outcomes: [RowOutcome]
    ) {
        self.site = site
        self.sequence = sequence
        self.tables = tables
        self.prerequisites = prerequisites
        self.properties = properties
        self.afterVersion = afterVersion
        self.throughVersion = throughVersion
        self.outcomes = outcomes
    }
}

/// A registered site as the hub sees it.
public struct SiteRecord: Sendable, Codable {
    public var id: String
    public var name: String
    /// The site's one-line public identity.
    public var publicKey: String
    public var registeredAt: String
    public var lastSequence: Int64
    public var appliedThrough: Int64
    public var lastReceivedAt: String?
    public var lastReturnSequence: Int64
    public var lastReturnAt: String?
    public var ackedHubVersion: Int64
    /// Hub changes in the site's scope it has not acknowledged yet.
    public var pendingRows: Int64
    public var conflicts: Int64
    /// Conflicts of the site that wait for a decision (a `manual` rule's), counted in ``conflicts`` too: what
    /// `sync_health.unresolved_conflicts` counts at a PostgreSQL hub, besides notifications nobody marked resolved.
    public var waitingConflicts: Int64
    public var rejected: Int64

    public init(
        id: String, name: String, publicKey: String, registeredAt: String, lastSequence: Int64,
        appliedThrough: Int64, lastReceivedAt: String?, lastReturnSequence: Int64, lastReturnAt: String?,
        ackedHubVersion: Int64, pendingRows: Int64, conflicts: Int64, rejected: Int64, waitingConflicts: Int64 = 0
    ) {
        self.waitingConflicts = waitingConflicts
        self.id = id
        self.name = name
        self.publicKey = publicKey
        self.registeredAt = registeredAt
        self.lastSequence = lastSequence
        self.appliedThrough = appliedThrough
        self.lastReceivedAt = lastReceivedAt
        self.lastReturnSequence = lastReturnSequence
        self.lastReturnAt = lastReturnAt
        self.ackedHubVersion = ackedHubVersion
        self.pendingRows = pendingRows
        self.conflicts = conflicts
        self.rejected = rejected
    }
}

/// The hub's storage: synced tables with version stamping, registered sites and their positions, conflicts and
/// set-aside rows. Implemented by the embedded SQLite store and the PostgreSQL store, with the same behaviour.
public protocol HubStore: AnyObject {
    /// The hub's node id.
    var hubID: String { get }

    /// Registers a site, or updates its name and key if already registered.
    func registerSite(id: String, name: String, publicKey: String) throws
    /// Every registered site with its positions and counts.
    func sites() throws -> [SiteRecord]
    /// Appends a line to the hub's sync log (`sync_log`, or `_fieldsync_log` in the embedded store) for an event
    /// outside an ingest or an export, such as a change of a site's registered key.
    func logEvent(site: String?, operation: String, status: String, message: String) throws
    /// The one-line public identity a site was registered with, or `nil` if the site is not registered.
    func publicKey(ofSite id: String) throws -> String?
    /// Declares a synced table: creates it from `schema`, or (with `nil`) adopts the existing table `name`.
    @discardableResult
    func addTable(name: String, schema: TableSchema?) throws -> TableSchema
    /// The synced tables in apply order.
    func tables() throws -> [TableSchema]

    /// Applies a site's bundle in one transaction: idempotent, with conflict detection and rows set aside.
    func ingest(_ bundle: IncomingBundle) throws -> IngestReport
    /// Writes a refused bundle to the hub's log (`sync_log`, status `refused`), outside any ingest transaction.
    func logRefusal(_ refusal: BundleRefusal) throws
    /// The latest refusal per sender (registered or only claimed), oldest sender first.
    func lastRefusals() throws -> [BundleRefusal]
    /// Deleted rows of synced tables that live rows of another table still reference through a foreign key declared
    /// in the hub's database (a delete that came from a site, or a tombstone set by hand), at most `limit`.
    func danglingReferences(limit: Int) throws -> [DanglingReference]

    /// Fixes the contents of the next return bundle for `site`.
    func planReturn(for site: String) throws -> ReturnPlan
    /// Streams the plan's changes to `emit` in table order; returns how many.
    func streamReturn(_ plan: ReturnPlan, into emit: (Change, String) throws -> Void) throws -> Int
    /// Records that the return bundle for `plan` was written.
    func recordReturn(_ plan: ReturnPlan, bundleID: String, rows: Int) throws

    // MARK: Conflict rules, conflicts, set-aside rows, notifications

    /// The rule of every synced table (the default for a table nobody set one for), in table order.
    func conflictRules() throws -> [ConflictRule]
    /// Sets a table's rule, checked against its schema; applies to bundles ingested from now on.
    func setConflictRule(_ rule: ConflictRule) throws
    /// Recorded conflicts, oldest first.
    func conflicts(_ filter: ConflictFilter) throws -> [ConflictRecord]
    /// One conflict with the hub's current row; throws `notFound` for an unknown id.
    func conflict(id: Int64) throws -> ConflictRecord
    /// Decides a conflict, pending or settled by the rule: writes the decided row as a change made at the hub (every site in scope
    /// receives it), marks the conflict resolved and its notification resolved, and queues the outcome for the
    /// site that sent the change. Throws `invalidState` if a person decided it already.
    @discardableResult
    func resolveConflict(_ resolution: ConflictResolution) throws -> ConflictRecord
    /// Rows set aside (by default only those still waiting), oldest first.
    func rejectedRows(site: String?, table: String?, includeApplied: Bool) throws -> [RejectedRecord]
    /// Applies a set-aside row again, judged like a new arrival (conflicts settled by the table's rule); on
    /// success the row is written as a change made at the hub.
    func retryRejected(id: Int64) throws -> RetryResult
    /// Notifications due for delivery at `now` (seconds since 1970): not yet sent, and past their retry time.
    func dueNotifications(now: Double, limit: Int) throws -> [ConflictNotification]
    /// Records a delivery attempt: sent (`error == nil`) or failed, to be tried again after
    /// ``ConflictNotification/retryDelay(afterAttempts:)``.
    func recordDelivery(of notification: Int64, error: String?, now: Double) throws
}
