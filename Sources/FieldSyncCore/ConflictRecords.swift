/// One recorded conflict, as `fieldsync conflicts list/show` presents it.
///
/// Rows are given as values in ``columns`` order (the hub's columns the site's change carried).
public struct ConflictRecord: Sendable {
    public var id: Int64
    public var site: String
    public var table: String
    /// The row's primary key as a JSON array.
    public var key: String
    /// The site's change counter of the change.
    public var originSequence: Int64
    public var bundleID: String
    /// The hub version the site's edit was based on, and the hub's version of the row when the change arrived.
    public var baseVersion: Int64
    public var hubVersion: Int64
    /// The site whose change made the hub's version, or `nil` for the hub itself.
    public var hubOrigin: String?
    /// The table's strategy when the conflict was settled.
    public var rule: ConflictStrategy
    public var decision: ConflictDecision
    /// Columns the field merge could not merge (changed on both sides, or not a merge field).
    public var contested: [String]
    public var createdAt: String
    public var resolvedAt: String?
    public var columns: [String]
    /// The site's version; for a delete only the key columns mean anything.
    public var incoming: [Value]
    public var incomingOperation: Change.Operation
    /// The hub's row when the change arrived; `nil` if it was a tombstone.
    public var hubRow: [Value]?
    /// The row at the base version, when the hub had it (field_merge tables keep earlier versions).
    public var base: [Value]?
    /// The hub's row now (filled by ``HubStore/conflict(id:)``); `nil` if it is a tombstone.
    public var current: [Value]?
    /// The site's and the hub's edit times compared (hub clock, ISO 8601), for last_write_wins.
    public var siteTime: String?
    public var hubTime: String?

    public init(
        id: Int64, site: String, table: String, key: String, originSequence: Int64, bundleID: String,
        baseVersion: Int64, hubVersion: Int64, hubOrigin: String?, rule: ConflictStrategy,
        decision: ConflictDecision, contested: [String], createdAt: String, resolvedAt: String?, columns: [String],
        incoming: [Value], incomingOperation: Change.Operation, hubRow: [Value]?, base: [Value]?,
        current: [Value]? = nil, siteTime: String? = nil, hubTime: String? = nil
    ) {
        self.id = id
        self.site = site
        self.table = table
        self.key = key
        self.originSequence = originSequence
        self.bundleID = bundleID
        self.baseVersion = baseVersion
        self.hubVersion = hubVersion
        self.hubOrigin = hubOrigin
        self.rule = rule
        self.decision = decision
        self.contested = contested
        self.createdAt = createdAt
        self.resolvedAt = resolvedAt
        self.columns = columns
        self.incoming = incoming
        self.incomingOperation = incomingOperation
        self.hubRow = hubRow
        self.base = base
        self.current = current
        self.siteTime = siteTime
        self.hubTime = hubTime
    }
}

/// Which conflicts to list.
public struct ConflictFilter: Sendable, Equatable {
    public var site: String?
    public var table: String?
    /// Only those waiting for a person.
    public var pendingOnly: Bool

    public init(site: String? = nil, table: String? = nil, pendingOnly: Bool = false) {
        self.site = site
        self.table = table
        self.pendingOnly = pendingOnly
    }
}

/// What a person decides for a conflict.
public enum ConflictTake: String, Sendable, CaseIterable {
    /// The site's version (for a delete: the row is deleted).
    case site
    /// The hub's current row.
    case hub
    /// The hub's current row with the site's changes to columns the hub did not change since the base (when the
    /// hub kept the base row); ``ConflictResolution/set`` fills in the rest.
    case merged
}

/// A decision for ``HubStore/resolveConflict(_:)``.
public struct ConflictResolution: Sendable {
    public var id: Int64
    public var take: ConflictTake
    /// Column values to set on top of the taken row, as text in the column's form (``Value/parse(_:as:)``).
    public var set: [(column: String, text: String?)]

    public init(id: Int64, take: ConflictTake, set: [(column: String, text: String?)] = []) {
        self.id = id
        self.take = take
        self.set = set
    }
}

/// A row a site sent that the hub set aside, as `fieldsync conflicts list --rejected` presents it.
public struct RejectedRecord: Sendable {
    public enum Status: String, Sendable, Codable {
        /// Waiting for a fix and a retry.
        case setAside = "set_aside"
        /// Applied by a retry (or found already in the hub's row).
        case applied
        /// A retry met a newer change to the row: it became a conflict, settled by the table's rule (see
        /// `fieldsync conflicts list`).
        case conflict
    }

    public var id: Int64
    public var site: String
    public var table: String
    public var key: String
    public var originSequence: Int64
    public var bundleID: String
    public var reason: String
    public var createdAt: String
    public var status: Status
    public var retriedAt: String?
    public var columns: [String]
    public var incoming: [Value]
    public var incomingOperation: Change.Operation

    public init(
        id: Int64, site: String, table: String, key: String, originSequence: Int64, bundleID: String,
        reason: String, createdAt: String, status: Status, retriedAt: String?, columns: [String], incoming: [Value],
        incomingOperation: Change.Operation
    ) {
        self.id = id
        self.site = site
        self.table = table
        self.key = key
        self.originSequence = originSequence
        self.bundleID = bundleID
        self.reason = reason
        self.createdAt = createdAt
        self.status = status
        self.retriedAt = retriedAt
        self.columns = columns
        self.incoming = incoming
        self.incomingOperation = incomingOperation
    }
}

/// What retrying a set-aside row did.
public enum RetryResult: Sendable, Equatable {
    /// The row was applied (as a change made at the hub, so every site receives it).
    case applied
    /// The hub's row already held it.
    case unchanged
    /// Still not possible; the reason is recorded.
    case failed(reason: String)
    /// The row met a newer change at the hub: recorded as a conflict with this id and settled by the table's rule.
    case conflict(id: Int64)
}

extension RetryResult {
    /// What the set-aside row becomes after this retry; `nil` while it stays set aside.
    public var rowStatus: RejectedRecord.Status? {
        switch self {
        case .applied, .unchanged: .applied
        case .conflict: .conflict
        case .failed: nil
        }
    }
}

/// A conflict notification waiting to be delivered (`conflict_notifications`).
public struct ConflictNotification: Sendable, Codable, Equatable {
    public var id: Int64
    public var table: String
    /// The row's key as a JSON array.
    public var recordID: String
    public var site: String
    /// The notification as JSON: type, conflict id, table, key, site, rule, decision, versions, time.
    public var details: String
    public var createdAt: String
    public var attempts: Int

    public init(
        id: Int64, table: String, recordID: String, site: String, details: String, createdAt: String, attempts: Int
    ) {
        self.id = id
        self.table = table
        self.recordID = recordID
        self.site = site
        self.details = details
        self.createdAt = createdAt
        self.attempts = attempts
    }

    enum CodingKeys: String, CodingKey {
        case id, table, recordID = "record_id", site, details, createdAt = "created_at", attempts
    }

    /// How long to wait before trying a failed delivery again: 1, 2, 4 … minutes, at most 6 hours.
    public static func retryDelay(afterAttempts attempts: Int) -> Double {
        min(60 * Double(1 << min(max(attempts - 1, 0), 20)), 6 * 3600)
    }
}

extension ConflictTake {
    /// The conflict's decision once a person took this side.
    public var decision: ConflictDecision {
        switch self {
        case .site: .resolvedSite
        case .hub: .resolvedHub
        case .merged: .resolvedMerged
        }
    }
}

extension ConflictResolution {
    /// The row this decision makes, over every column of the hub's table `schema`.
    ///
    /// - Parameter current: the hub's row now (values in `schema` order, and whether it is a tombstone), or `nil`
    ///   if the hub has no row with the key.
    /// - Throws: ``StoreError`` (`.schema`) for a column to set that the table lacks or that is part of its key,
    ///   or a value its type cannot take; (`.invalidState`) for a value set on a row decided to be deleted.
    public func decidedRow(
        for record: ConflictRecord, schema: TableSchema, current: (values: [Value], deleted: Bool)?
    ) throws -> (values: [Value], deleted: Bool) {
        var values = current?.values ?? [Value](repeating: .null, count: schema.columns.count)
        var deleted = current?.deleted ?? true
        if current == nil, let key = Value.arrayFromJSON(record.key) {
            for (position, column) in schema.primaryKeyIndexes.enumerated() where position < key.count {
                values[column] = key[position]
            }
        }
        switch take {
        case .hub:
            break
        case .site:
            if record.incomingOperation == .delete {
                deleted = true
            } else {
                for (index, name) in record.columns.enumerated() {
                    if let column = schema.columnIndex(named: name) { values[column] = record.incoming[index] }
                }
                deleted = false
            }
        case .merged:
            // The site's edits to columns the hub has not changed since the base; without the base (or with a
            // delete on either side) the hub's row.
            if let base = record.base, record.incomingOperation != .delete, !deleted {
                for (index, name) in record.columns.enumerated() {
                    guard let column = schema.columnIndex(named: name), !schema.primaryKey.contains(name) else {
                        continue
                    }
                    let site = record.incoming[index]
                    if !site.isSameValue(as: base[index]) && values[column].isSameValue(as: base[index]) {
                        values[column] = site
                    }
                }
            }
        }
        if !set.isEmpty && deleted {
            throw StoreError(
                .invalidState,
                "conflict \(record.id): the decided row is deleted, so no column can be set; take another side")
        }
        for (name, text) in set {
            guard let column = schema.columnIndex(named: name) else {
                throw StoreError(.schema, "table '\(schema.name)' has no column '\(name)'")
            }
            guard !schema.primaryKey.contains(name) else {
                throw StoreError(
                    .schema, "column '\(name)' is part of the primary key of table '\(schema.name)' and cannot be set")
            }
            do {
                values[column] = try text.map { try Value.parse($0, as: schema.columns[column].type) } ?? .null
            } catch let error as StoreError {
                throw StoreError(.schema, "column '\(name)' of table '\(schema.name)': \(error.message)")
            }
        }
        return (values, deleted)
    }
}
