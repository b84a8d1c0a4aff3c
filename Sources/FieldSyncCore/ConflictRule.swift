/// How a table's conflicts are settled; the names are those of the `conflict_rules` table.
public enum ConflictStrategy: String, Sendable, Codable, CaseIterable {
    /// The hub keeps its row; the site's version is recorded and the hub's row goes back to the site.
    case serverWins = "server_wins"
    /// The site's version is applied over the hub's row.
    case clientWins = "client_wins"
    /// The later edit wins, by edit time on the hub's clock (see ``SiteClock``); a tie keeps the hub's row.
    case lastWriteWins = "last_write_wins"
    /// A three-way merge by column against the row as the site last had it; a column changed on both sides (or one
    /// outside the merge fields) is settled by the rule's fallback.
    case fieldMerge = "field_merge"
    /// The row waits for a person (`fieldsync conflicts resolve`); the hub keeps its current row meanwhile.
    case manual
}

/// A table's conflict rule.
///
/// Stored per table in the hub's `conflict_rules` (`detection_method`, `resolution_strategy`, `priority_field`,
/// `merge_fields`, `notify_on_conflict`, and FieldSync's `merge_fallback`). A table without a row has
/// ``default(for:)``: server wins, no notification.
public struct ConflictRule: Sendable, Codable, Equatable {
    public var table: String
    public var strategy: ConflictStrategy
    /// For ``ConflictStrategy/fieldMerge``: how the columns that cannot merge are settled. Never `fieldMerge`.
    public var fallback: ConflictStrategy
    /// For ``ConflictStrategy/fieldMerge``: the columns that may merge; `nil` means every column but the key.
    public var mergeFields: [String]?
    /// Whether each conflict on the table queues a notification (`fieldsync hub notify` delivers them).
    public var notify: Bool

    public init(
        table: String, strategy: ConflictStrategy = .serverWins, fallback: ConflictStrategy = .serverWins,
        mergeFields: [String]? = nil, notify: Bool = false
    ) {
        self.table = table
        self.strategy = strategy
        self.fallback = fallback
        self.mergeFields = mergeFields
        self.notify = notify
    }

    /// The rule of a table nobody set one for.
    public static func `default`(for table: String) -> ConflictRule {
        ConflictRule(table: table)
    }

    /// The reference procedure's `detection_method`: FieldSync always compares versions.
    public var detectionMethod: String { "version_compare" }

    /// The reference procedure's `priority_field`: the time `last_write_wins` compares.
    public var priorityField: String? { strategy == .lastWriteWins ? "sync_modified_at" : nil }

    /// The rule checked against the table it is for: the fallback is not `field_merge`, merge fields name
    /// columns of the table that are not part of its primary key.
    public func validated(against schema: TableSchema) throws -> ConflictRule {
        guard schema.name == table else {
            throw StoreError(.schema, "the rule is for table '\(table)', not '\(schema.name)'")
        }
        guard fallback != .fieldMerge else {
            throw StoreError(.schema, "table '\(table)': the fallback of field_merge cannot be field_merge itself")
        }
        for field in mergeFields ?? [] {
            guard schema.columnIndex(named: field) != nil else {
                throw StoreError(.schema, "table '\(table)' has no column '\(field)' (given as a merge field)")
            }
            guard !schema.primaryKey.contains(field) else {
                throw StoreError(.schema, "table '\(table)': the primary-key column '\(field)' cannot be a merge field")
            }
        }
        if mergeFields != nil && strategy != .fieldMerge {
            throw StoreError(.schema, "table '\(table)': merge fields apply only to the field_merge strategy")
        }
        return self
    }

    enum CodingKeys: String, CodingKey {
        case table, strategy, fallback, mergeFields = "merge_fields", notify
    }
}
