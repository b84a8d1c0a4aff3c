import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// Fixes what the next return bundle to `site` holds, as the embedded store does, except where the version
    /// range ends: at the **visibility watermark**, the highest version below which every transaction that took a
    /// version has ended (see ``watermark()``). Sequence order is not commit order; a version still held by a
    /// running transaction is never skipped, it goes in a later bundle.
    public func planReturn(for site: String) throws -> ReturnPlan {
        let watermark = try watermark()
        return try connection.withTransaction { try plan(for: site, watermark: watermark) }
    }

    /// The highest hub version `W` such that every version up to `W` belongs to a transaction that has ended.
    ///
    /// Every writer is given its transaction id before it takes a version (the trigger calls
    /// `pg_current_xact_id()` first, and the sequence has `CACHE 1`), and ids are handed out in increasing order.
    /// So, having read the sequence's last value `L` and *then* had a new id `X` assigned (in a transaction of its
    /// own, committed at once), every transaction that took a version up to `L` has an id below `X`. Once no
    /// transaction older than `X` still holds the version sequence (``versionWriters``), all of them have ended and
    /// versions up to `L` are final. (A snapshot's `xmax` would not do: it is one past the newest *finished* transaction, so a newer
    /// writer still running would pass unseen.) Each call records such a pair in `sync_control.version_horizons`,
    /// waits up to ``Configuration/watermarkWait`` for it to become final, and returns the highest final one.
    public func watermark() throws -> Int64 {
        let last = try connection.integer(
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM sync_control.version_seq")
        let horizon = try connection.query("SELECT pg_current_xact_id()::text").rows.first?.first ?? nil
        guard let horizon else { throw StoreError(.statement, "cannot read a transaction id") }
        try connection.run(
            "INSERT INTO sync_control.version_horizons (xid_horizon, last_version) VALUES ($1::xid8, $2)",
            [horizon, String(last)])
        let deadline = ContinuousClock.now.advanced(by: configuration.watermarkWait)
        while try connection.scalar(
            "WITH \(Self.versionWriters) SELECT NOT EXISTS (SELECT 1 FROM writers WHERE age(xid) > age(xid($1::xid8)))",
            [horizon]) != "t",
            ContinuousClock.now < deadline
        {
            usleep(10_000)
        }
        let rows = try connection.query(
            "WITH \(Self.versionWriters), "
                + "final AS (SELECT max(last_version) AS version FROM sync_control.version_horizons h WHERE NOT EXISTS "
                + "(SELECT 1 FROM writers WHERE age(writers.xid) > age(xid(h.xid_horizon)))), "
                + "pruned AS (DELETE FROM sync_control.version_horizons h USING final "
                + "WHERE h.last_version < final.version AND NOT EXISTS "
                + "(SELECT 1 FROM writers WHERE age(writers.xid) > age(xid(h.xid_horizon)))) "
                + "SELECT version FROM final")
        return rows.rows.first?.first.flatMap { $0.flatMap { Int64($0) } } ?? 0
    }

    /// The transactions still running that have taken a hub version: every `nextval` on the version sequence holds
    /// a lock on it until its transaction ends, so these are exactly the writers a return bundle may have to wait
    /// for, in this database only (a long transaction elsewhere on the server does not hold bundles back). The
    /// view `pg_locks` is readable by every role.
    static let versionWriters = """
        writers AS (SELECT x.transactionid AS xid FROM pg_locks l \
        JOIN pg_locks x ON x.virtualtransaction = l.virtualtransaction AND x.locktype = 'transactionid' \
        AND x.mode = 'ExclusiveLock' AND x.granted \
        WHERE l.locktype = 'relation' AND l.relation = 'sync_control.version_seq'::regclass \
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        """

    /// The plan, taking the next return sequence now: a crash while writing leaves a gap the site reports.
    private func plan(for site: String, watermark: Int64) throws -> ReturnPlan {
        guard
            let row = try connection.query(
                "UPDATE sync_control.client_state SET last_return_sequence = last_return_sequence + 1 "
                    + "WHERE client_id = $1 RETURNING last_sequence, applied_through, last_sync_version, acked_return, "
                    + "last_return_sequence", [site]
            ).rows.first
        else {
            throw StoreError(.notFound, "site '\(site)' is not registered at this hub", location: connection.location)
        }
        let ackedReturn = row[3] ?? "0"
        let after = Int64(row[2] ?? "0") ?? 0
        let through = max(watermark, after)
        // Before the bundle exists: besides the range up to the watermark, its rows for outcomes are the rows as
        // they are, possibly newer, but never newer than the last version taken.
        try connection.run(
            "UPDATE sync_control.client_state SET sent_version = greatest(sent_version, $2, "
                + "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq)) "
                + "WHERE client_id = $1", [site, String(through)])
        var outcomes: [RowOutcome] = []
        for outcome in try connection.query(
            "SELECT id, table_name, pk, origin_seq, decision, incoming::text FROM sync_control.conflicts "
                + "WHERE client_id = $1 AND CASE WHEN decision LIKE 'resolved%' "
                + "THEN resolved_return_sequence IS NULL OR resolved_return_sequence > $2 "
                + "ELSE return_sequence IS NULL OR return_sequence > $2 END ORDER BY id", [site, ackedReturn]
        ).rows {
            let decision = outcome[4].flatMap(ConflictDecision.init(rawValue:)) ?? .hubKept
            let (kind, reason) = Self.outcome(of: decision)
            outcomes.append(
                RowOutcome(
                    kind: kind, table: outcome[1] ?? "", key: outcome[2] ?? "[]",
                    originSequence: Int64(outcome[3] ?? "0") ?? 0, id: Int64(outcome[0] ?? "0") ?? 0,
                    reason: reason,
                    values: kind == .resolved ? Self.valuesObject(outcome[5]) : nil))
        }
        for outcome in try connection.query(
            "SELECT id, table_name, pk, origin_seq, reason, correct FROM sync_control.rejected_rows "
                + "WHERE client_id = $1 AND status = 'set_aside' AND (return_sequence IS NULL OR return_sequence > $2) "
                + "ORDER BY id",
            [site, ackedReturn]
        ).rows {
            outcomes.append(
                RowOutcome(
                    kind: outcome[5] == "f" ? .rejectedKept : .rejected, table: outcome[1] ?? "",
                    key: outcome[2] ?? "[]", originSequence: Int64(outcome[3] ?? "0") ?? 0,
                    id: Int64(outcome[0] ?? "0") ?? 0, reason: outcome[4] ?? ""))
        }
        for outcome in try connection.query(
            "SELECT id, table_name, pk FROM sync_control.resend_rows WHERE client_id = $1 "
                + "AND (return_sequence IS NULL OR return_sequence > $2) ORDER BY id", [site, ackedReturn]
        ).rows {
            outcomes.append(
                RowOutcome(
                    kind: .resend, table: outcome[1] ?? "", key: outcome[2] ?? "[]", originSequence: 0,
                    id: Int64(outcome[0] ?? "0") ?? 0, reason: ""))
        }
        var properties = [
            SyncProperty.acknowledgedChange: row[1] ?? "0",
            SyncProperty.throughVersion: String(through),
        ]
        if !outcomes.isEmpty {
            properties[SyncProperty.outcomes] = String(decoding: try JSONEncoder().encode(outcomes), as: UTF8.self)
        }
        return ReturnPlan(
            site: site, sequence: UInt64(row[4] ?? "0") ?? 0, tables: try tables(),
            prerequisites: [SyncProperty.acknowledgedSequence: Int64(row[0] ?? "0") ?? 0], properties: properties,
            afterVersion: after, throughVersion: through, outcomes: outcomes)
    }

    /// The outcome kind of a conflict's decision, and the reason the site is given (as the embedded store words
    /// it).
    static func outcome(of decision: ConflictDecision) -> (RowOutcome.Kind, String) {
        switch decision {
        case .hubKept:
            (.conflictHubKept, "the hub's row changed meanwhile; the hub kept its version and recorded yours")
        case .siteApplied:
            (.conflictSiteApplied, "the hub's row changed meanwhile; the table's rule applied your version")
        case .merged:
            (.conflictMerged, "the hub's row changed meanwhile; your changes were merged with the hub's")
        case .pending:
            (.conflictPending, "the hub's row changed meanwhile; the conflict waits for a decision at the hub")
        case .resolvedSite: (.resolved, "decided at the hub: your version")
        case .resolvedHub: (.resolved, "decided at the hub: the hub's row")
        case .resolvedMerged: (.resolved, "decided at the hub: a merged row")
        }
    }

    /// The `values` member of a stored row (``RowJSON``), as a JSON object of column name to value.
    static func valuesObject(_ text: String?) -> String? {
        guard let decoded = text.flatMap(RowJSON.decode) else { return nil }
        return "{"
            + decoded.values.map { "\(Value.jsonString($0.name)):\($0.value.jsonText)" }
            .joined(separator: ",") + "}"
    }

    /// Streams the plan's changes through server-side cursors, table by table: tombstones then live rows in the
    /// version range not made by the site itself, each followed by the current state of rows with an outcome.
    public func streamReturn(_ plan: ReturnPlan, into emit: (Change, String) throws -> Void) throws -> Int {
        var count = 0
        var perTable: [String: Int] = [:]
        try connection.withTransaction {
            try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for schema in plan.tables {
                let selection =
                    "SELECT \(schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")), "
                    + "sync_version, sync_deleted, sync_origin_client FROM \(qualified(schema.name))"
                let outcomes = plan.outcomes.filter { $0.table == schema.name && $0.carriesHubRow }
                let corrections = try outcomeRows(outcomes, schema: schema, selection: selection, plan: plan)
                for deleted in [true, false] {
                    try connection.withCursor(
                        "\(selection) WHERE sync_version > $1 AND sync_version <= $2 AND sync_deleted = $3 "
                            + "AND (sync_origin_client IS NULL OR sync_origin_client <> $4) ORDER BY sync_version",
                        [String(plan.afterVersion), String(plan.throughVersion), deleted ? "t" : "f", plan.site]
                    ) { rows, index in
                        try emit(change(from: rows.rows[index], schema: schema), schema.name)
                        count += 1
                        perTable[schema.name, default: 0] += 1
                    }
                    for correction in corrections where (correction.operation == .delete) == deleted {
                        try emit(correction, schema.name)
                        count += 1
                        perTable[schema.name, default: 0] += 1
                    }
                }
            }
        }
        streamedRows["\(plan.site)#\(plan.sequence)"] = perTable
        return count
    }

    /// The hub's current state of each row with an outcome, unless the plan's range carries it already; a
    /// tombstone where the hub never had the row.
    private func outcomeRows(_ outcomes: [RowOutcome], schema: TableSchema, selection: String, plan: ReturnPlan)
        throws -> [Change]
    {
        guard !outcomes.isEmpty else { return [] }
        let keyMatch = schema.primaryKey.enumerated().map { "\(Identifier.quoted($1)) = $\($0 + 1)" }
            .joined(separator: " AND ")
        var changes: [Change] = []
        var seen = Set<String>()
        for outcome in outcomes where seen.insert(outcome.key).inserted {
            let keyTexts = try connection.query(
                "SELECT CASE WHEN json_typeof(e) = 'object' THEN '\\x' || (e->>'hex') ELSE e #>> '{}' END "
                    + "FROM json_array_elements($1::json) WITH ORDINALITY AS t(e, n) ORDER BY n", [outcome.key]
            ).rows.map { $0[0] }
            guard keyTexts.count == schema.primaryKey.count else { continue }
            if let row = try connection.query("\(selection) WHERE \(keyMatch)", keyTexts).rows.first {
                let count = schema.columns.count
                let version = Int64(row[count] ?? "0") ?? 0
                let carried =
                    version > plan.afterVersion && version <= plan.throughVersion && row[count + 2] != plan.site
                if !carried { changes.append(change(from: row, schema: schema)) }
            } else {
                var values = [Value](repeating: .null, count: schema.columns.count)
                for (position, column) in schema.primaryKeyIndexes.enumerated() {
                    values[column] = PostgresTypes.value(keyTexts[position], type: schema.columns[column].type)
                }
                changes.append(
                    Change(
                        operation: .delete, origin: hubID, originSequence: plan.throughVersion,
                        version: plan.throughVersion, values: values))
            }
        }
        return changes
    }

    /// Records that the return bundle for `plan` was written.
    public func recordReturn(_ plan: ReturnPlan, bundleID: String, rows: Int) throws {
        let perTable = streamedRows.removeValue(forKey: "\(plan.site)#\(plan.sequence)") ?? [:]
        try connection.withTransaction {
            let sequence = String(plan.sequence)
            try connection.run(
                "UPDATE sync_control.client_state SET last_return_at = now(), last_sync_timestamp = now(), "
                    + "sync_status = 'active', updated_at = now(), sent_version = greatest(sent_version, "
                    + "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq)) "
                    + "WHERE client_id = $1", [plan.site])
            for outcome in plan.outcomes {
                let table =
                    switch outcome.kind {
                    case .rejected, .rejectedKept: "sync_control.rejected_rows"
                    case .conflictHubKept, .conflictSiteApplied, .conflictMerged, .conflictPending, .resolved:
                        "sync_control.conflicts"
                    case .resend: "sync_control.resend_rows"
                    }
                try connection.run(
                    "UPDATE \(table) SET return_sequence = $1 WHERE id = $2 AND return_sequence IS NULL",
                    [sequence, String(outcome.id)])
                if outcome.kind == .resolved {
                    try connection.run(
                        "UPDATE sync_control.conflicts SET resolved_return_sequence = $1 WHERE id = $2 "
                            + "AND resolved_return_sequence IS NULL", [sequence, String(outcome.id)])
                }
            }
            for (table, count) in perTable {
                try connection.run(
                    "UPDATE sync_control.table_sync_state SET row_count_synced = coalesce(row_count_synced, 0) + $3, "
                        + "last_synced_at = now() WHERE client_id = $1 AND table_name = $2",
                    [plan.site, table, String(count)])
            }
            try connection.run(
                "INSERT INTO sync_control.bundles (bundle_id, client_id, sequence, direction, status, rows) "
                    + "VALUES ($1, $2, $3, 'out', 'written', $4)", [bundleID, plan.site, sequence, String(rows)])
            try log(
                site: plan.site, operation: "export", rows: rows, milliseconds: 0, status: "ok",
                message: "return bundle \(bundleID) sequence \(plan.sequence): \(plan.versionRangeText), "
                    + "\(plan.outcomes.count) outcomes")
        }
    }

    /// A hub row (columns, then version, deleted flag and origin) as a change for a return bundle.
    private func change(from row: [String?], schema: TableSchema) -> Change {
        let count = schema.columns.count
        let version = Int64(row[count] ?? "0") ?? 0
        return Change(
            operation: row[count + 1] == "t" ? .delete : .update, origin: row[count + 2] ?? hubID,
            originSequence: version, version: version,
            values: schema.columns.indices.map { PostgresTypes.value(row[$0], type: schema.columns[$0].type) })
    }

    /// The sequence's last value: the newest version taken (committed or not).
    public func lastVersion() throws -> Int64 {
        try connection.integer(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq")
    }
}
