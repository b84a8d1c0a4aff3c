import FieldSyncCore
import Foundation

extension SQLiteHubStore {
    /// Fixes what the next return bundle to `site` holds: the hub's changes after what the site has acknowledged up
    /// to the current version, the acknowledgement of the site's bundles, and the outcomes of its rows that the
    /// site has not yet received.
    public func planReturn(for site: String) throws -> ReturnPlan {
        try connection.withTransaction { try plan(for: site) }
    }

    /// The plan, taking the next return sequence now: a crash while writing leaves a gap the site reports.
    private func plan(for site: String) throws -> ReturnPlan {
        try connection.run(
            "UPDATE _fieldsync_sites SET last_return_sequence = last_return_sequence + 1 WHERE site_id = ?",
            [.text(site)])
        guard
            let row = try connection.query(
                "SELECT last_sequence, applied_through, acked_hub_version, acked_return, last_return_sequence "
                    + "FROM _fieldsync_sites WHERE site_id = ?", [.text(site)]
            ).first
        else {
            throw StoreError(.notFound, "site '\(site)' is not registered at this hub", location: connection.path)
        }
        let ackedReturn = row[3].integerValue ?? 0
        let through = try connection.integer("SELECT version FROM _fieldsync_counter WHERE id = 1")
        // Before the bundle exists: the site may know every version up to here once it has the bundle.
        try connection.run(
            "UPDATE _fieldsync_sites SET sent_version = max(sent_version, ?) WHERE site_id = ?",
            [.integer(through), .text(site)])
        var outcomes: [RowOutcome] = []
        // A conflict's outcome goes until acknowledged; once a person decides it, the decision goes too.
        for outcome in try connection.query(
            "SELECT id, tbl, pk, origin_seq, decision, incoming FROM _fieldsync_conflicts WHERE site_id = ?1 "
                + "AND (return_sequence IS NULL OR return_sequence > ?2 OR (resolved_at IS NOT NULL "
                + "AND (resolved_return_sequence IS NULL OR resolved_return_sequence > ?2))) ORDER BY id",
            [.text(site), .integer(ackedReturn)])
        {
            outcomes.append(
                Self.conflictOutcome(
                    id: outcome[0].integerValue ?? 0, table: outcome[1].textValue ?? "",
                    key: outcome[2].textValue ?? "[]", originSequence: outcome[3].integerValue ?? 0,
                    decision: ConflictDecision(rawValue: outcome[4].textValue ?? "") ?? .hubKept,
                    incoming: outcome[5].textValue ?? ""))
        }
        for outcome in try connection.query(
            "SELECT id, tbl, pk, origin_seq, reason, correct FROM _fieldsync_rejected WHERE site_id = ? "
                + "AND status = 'set_aside' AND (return_sequence IS NULL OR return_sequence > ?) ORDER BY id",
            [.text(site), .integer(ackedReturn)])
        {
            outcomes.append(
                RowOutcome(
                    kind: outcome[5].integerValue == 0 ? .rejectedKept : .rejected, table: outcome[1].textValue ?? "",
                    key: outcome[2].textValue ?? "[]", originSequence: outcome[3].integerValue ?? 0,
                    id: outcome[0].integerValue ?? 0, reason: outcome[4].textValue ?? ""))
        }
        for outcome in try connection.query(
            "SELECT id, tbl, pk FROM _fieldsync_resend WHERE site_id = ? "
                + "AND (return_sequence IS NULL OR return_sequence > ?) ORDER BY id",
            [.text(site), .integer(ackedReturn)])
        {
            outcomes.append(
                RowOutcome(
                    kind: .resend, table: outcome[1].textValue ?? "", key: outcome[2].textValue ?? "[]",
                    originSequence: 0, id: outcome[0].integerValue ?? 0, reason: ""))
        }
        var properties = [
            SyncProperty.acknowledgedChange: String(row[1].integerValue ?? 0),
            SyncProperty.throughVersion: String(through),
        ]
        if !outcomes.isEmpty {
            properties[SyncProperty.outcomes] = String(decoding: try JSONEncoder().encode(outcomes), as: UTF8.self)
        }
        return ReturnPlan(
            site: site, sequence: UInt64(clamping: row[4].integerValue ?? 0), tables: try tables(),
            prerequisites: [SyncProperty.acknowledgedSequence: row[0].integerValue ?? 0], properties: properties,
            afterVersion: row[2].integerValue ?? 0, throughVersion: through, outcomes: outcomes)
    }

    /// The outcome of a conflict as the site receives it.
    static func conflictOutcome(
        id: Int64, table: String, key: String, originSequence: Int64, decision: ConflictDecision, incoming: String
    ) -> RowOutcome {
        let kind: RowOutcome.Kind
        let reason: String
        var values: String?
        switch decision {
        case .hubKept:
            kind = .conflictHubKept
            reason = "the hub's row changed meanwhile; the hub kept its version and recorded yours"
        case .siteApplied:
            kind = .conflictSiteApplied
            reason = "the hub's row changed meanwhile; the table's rule applied your version"
        case .merged:
            kind = .conflictMerged
            reason = "the hub's row changed meanwhile; your changes were merged with the hub's"
        case .pending:
            kind = .conflictPending
            reason = "the hub's row changed meanwhile; the conflict waits for a decision at the hub"
        case .resolvedSite, .resolvedHub, .resolvedMerged:
            kind = .resolved
            reason =
                switch decision {
                case .resolvedSite: "decided at the hub: your version"
                case .resolvedHub: "decided at the hub: the hub's row"
                default: "decided at the hub: a merged row"
                }
            if let row = RowJSON.decode(incoming) {
                let members = row.values.map { "\(Value.jsonString($0.name)):\($0.value.jsonText)" }
                values = "{" + members.joined(separator: ",") + "}"
            }
        }
        return RowOutcome(
            kind: kind, table: table, key: key, originSequence: originSequence, id: id, reason: reason, values: values)
    }

    /// Streams the plan's changes: per table in order, every row whose version lies in the plan's range and was not
    /// made by the site itself, then the current state of each row with an outcome that the range did not carry.
    /// Within a table, tombstones come before live rows, so a deleted row frees its unique values first.
    public func streamReturn(_ plan: ReturnPlan, into emit: (Change, String) throws -> Void) throws -> Int {
        var count = 0
        for schema in plan.tables {
            let table = Identifier.quoted(schema.name)
            let selection =
                "SELECT \(SQLText.columnList(schema)), sync_version, sync_deleted, sync_origin_client "
                + "FROM \(table)"
            let range = try connection.prepare(
                "\(selection) WHERE sync_version > ? AND sync_version <= ? AND sync_deleted = ? "
                    + "AND (sync_origin_client IS NULL OR sync_origin_client <> ?) ORDER BY sync_version")
            let outcomes = plan.outcomes.filter { $0.table == schema.name && $0.carriesHubRow }
            let corrections = try outcomeRows(outcomes, schema: schema, selection: selection, plan: plan)
            for deleted in [true, false] {
                try range.bind([
                    .integer(plan.afterVersion), .integer(plan.throughVersion), .integer(deleted ? 1 : 0),
                    .text(plan.site),
                ])
                while try range.step() {
                    try carry(change(from: range.row(), schema: schema), schema: schema, into: emit)
                    count += 1
                }
                for correction in corrections where (correction.operation == .delete) == deleted {
                    try carry(correction, schema: schema, into: emit)
                    count += 1
                }
            }
        }
        return count
    }

    /// Emits a hub row. A value its column's type cannot carry (stored by a release that did not check values at
    /// ingest, or typed into the store by hand) is carried in the column's form where it has one (text `'4'` in an
    /// integer column as 4); otherwise the export stops with a message naming the table, the row's key and the
    /// column, so that someone can correct the one row instead of every site's return bundle failing unexplained.
    private func carry(_ change: Change, schema: TableSchema, into emit: (Change, String) throws -> Void) throws {
        do {
            try emit(change, schema.name)
        } catch {
            switch schema.conformed(change) {
            case .success(let carried) where carried != change:
                try emit(carried, schema.name)
            case .failure(let refusal):
                let key = Value.jsonArray(schema.primaryKeyIndexes.map { change.values[$0] })
                let column = refusal.column ?? "?"
                throw StoreError(
                    .schema,
                    "table '\(schema.name)', row with key \(key): column '\(column)' holds \(refusal.detail), which "
                        + "no return bundle can carry; correct the value in the hub store (UPDATE \(schema.name) SET "
                        + "\(column) = … WHERE …) and export again", location: connection.path)
            default:
                throw error
            }
        }
    }

    /// The hub's current state of each row with an outcome, unless the plan's range carries it already; a
    /// tombstone where the hub never had the row, so the site comes back in step.
    private func outcomeRows(_ outcomes: [RowOutcome], schema: TableSchema, selection: String, plan: ReturnPlan)
        throws -> [Change]
    {
        guard !outcomes.isEmpty else { return [] }
        let lookup = try connection.prepare("\(selection) WHERE \(SQLText.keyMatch(schema, parameter: 1))")
        let keyValues = try connection.prepare(
            "SELECT " + schema.primaryKey.indices.map { "json_extract(?1, '$[\($0)]')" }.joined(separator: ", "))
        var changes: [Change] = []
        var seen = Set<String>()
        for outcome in outcomes where seen.insert(outcome.key).inserted {
            try lookup.bind([.text(outcome.key)])
            defer { lookup.reset() }
            if try lookup.step() {
                let row = lookup.row()
                let version = row[schema.columns.count].integerValue ?? 0
                let origin = row[schema.columns.count + 2].textValue
                let carried = version > plan.afterVersion && version <= plan.throughVersion && origin != plan.site
                if !carried { changes.append(change(from: row, schema: schema)) }
            } else {
                try keyValues.bind([.text(outcome.key)])
                _ = try keyValues.step()
                var values = [Value](repeating: .null, count: schema.columns.count)
                for (position, column) in schema.primaryKeyIndexes.enumerated() {
                    values[column] = keyValues.value(at: position)
                }
                keyValues.reset()
                changes.append(
                    Change(
                        operation: .delete, origin: hubID, originSequence: plan.throughVersion,
                        version: plan.throughVersion, values: values))
            }
        }
        return changes
    }

    /// Records that the return bundle for `plan` was written, so the next one takes the next sequence.
    public func recordReturn(_ plan: ReturnPlan, bundleID: String, rows: Int) throws {
        try connection.withTransaction {
            let sequence = Value.integer(Int64(plan.sequence))
            // The bundle's rows for outcomes are the rows as they were when written, possibly newer than the plan.
            try connection.run(
                "UPDATE _fieldsync_sites SET last_return_at = ?, sent_version = max(sent_version, "
                    + "(SELECT version FROM _fieldsync_counter WHERE id = 1)) WHERE site_id = ?",
                [.text(nowText()), .text(plan.site)])
            for outcome in plan.outcomes {
                switch outcome.kind {
                case .rejected, .rejectedKept:
                    try connection.run(
                        "UPDATE _fieldsync_rejected SET return_sequence = ? WHERE id = ? AND return_sequence IS NULL",
                        [sequence, .integer(outcome.id)])
                case .resend:
                    try connection.run(
                        "UPDATE _fieldsync_resend SET return_sequence = ? WHERE id = ? AND return_sequence IS NULL",
                        [sequence, .integer(outcome.id)])
                case .conflictHubKept, .conflictSiteApplied, .conflictMerged, .conflictPending, .resolved:
                    try connection.run(
                        "UPDATE _fieldsync_conflicts SET return_sequence = coalesce(return_sequence, ?1), "
                            + "resolved_return_sequence = CASE WHEN ?3 THEN coalesce(resolved_return_sequence, ?1) "
                            + "ELSE resolved_return_sequence END WHERE id = ?2",
                        [sequence, .integer(outcome.id), .integer(outcome.kind == .resolved ? 1 : 0)])
                }
            }
            try connection.run(
                "INSERT INTO _fieldsync_bundles (bundle_id, site_id, sequence, direction, status, rows, at) "
                    + "VALUES (?, ?, ?, 'out', 'written', ?, ?)",
                // Milliseconds: a site's next bundle cannot have been written before this, which bounds its clock.
                [
                    .text(bundleID), .text(plan.site), sequence, .integer(Int64(rows)),
                    .text(SiteClock.format(Date().timeIntervalSince1970)),
                ])
            try log(
                site: plan.site, operation: "export", rows: rows, milliseconds: 0, status: "ok",
                message: "return bundle \(bundleID) sequence \(plan.sequence): \(plan.versionRangeText), "
                    + "\(plan.outcomes.count) outcomes")
        }
    }

    /// A hub row (columns, then version, deleted flag and origin) as a change for a return bundle.
    private func change(from row: [Value], schema: TableSchema) -> Change {
        let count = schema.columns.count
        let version = row[count].integerValue ?? 0
        return Change(
            operation: row[count + 1].integerValue == 1 ? .delete : .update,
            origin: row[count + 2].textValue ?? hubID, originSequence: version, version: version,
            values: Array(row[0..<count]))
    }
}
