import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// Applies a site's bundle in one transaction, with the same rules as the embedded store: sequence checks,
    /// per-change idempotency, ``ConflictJudge`` decisions, rows set aside with their reason.
    ///
    /// The transaction holds the site's advisory lock (`pg_advisory_xact_lock`), so several hub processes sharing
    /// the database never apply one site's bundles twice or out of order; each hub row is locked (`FOR UPDATE`)
    /// before it is judged, so a concurrent ingest from another site cannot slip in between. While the bundle is
    /// applied, `fieldsync.applying` holds the site's id for the version trigger, which stamps each row written with
    /// the next version and the site as origin.
    public func ingest(_ bundle: IncomingBundle) throws -> IngestReport {
        // A bundle that is not applied is logged by the caller (HubEngine: logRefusal), once.
        let started = DispatchTime.now()
        return try connection.withTransaction { try ingestInTransaction(bundle, started: started) }
    }

    private func ingestInTransaction(_ bundle: IncomingBundle, started: DispatchTime) throws -> IngestReport {
        try connection.advisoryTransactionLock("fieldsync.site:\(bundle.site)")
        try connection.run("SELECT pg_current_xact_id()")
        guard
            let site = try connection.query(
                "SELECT last_sequence, last_bundle, applied_through, acked_return, last_sync_version, "
                    + "last_return_sequence, sent_version FROM sync_control.client_state WHERE client_id = $1 "
                    + "FOR UPDATE",
                [bundle.site]
            ).rows.first
        else {
            throw StoreError(
                .notFound, "site '\(bundle.site)' is not registered at this hub; run 'fieldsync hub add-site'",
                location: bundle.source)
        }
        let changesThrough = try bundle.checkAcknowledgements(
            lastReturnSequence: Int64(site[5] ?? "0") ?? 0,
            hubVersion: Int64(
                try connection.scalar(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq") ?? "0")
                ?? 0)
        let lastSequence = UInt64(site[0] ?? "0") ?? 0
        var appliedThrough = Int64(site[2] ?? "0") ?? 0
        // The highest hub version the site can know: bases above it are made up (ConflictJudge.clampingBase).
        let baseCeiling = Int64(site[6] ?? "0") ?? 0
        var report = IngestReport(
            status: .applied, site: bundle.site, bundleID: bundle.bundleID, sequence: bundle.sequence)
        try bundle.checkFollows(
            lastSequence: lastSequence, ackedReturn: Int64(site[3] ?? "0") ?? 0,
            ackedHubVersion: Int64(site[4] ?? "0") ?? 0
        ) {
            try connection.scalar(
                "SELECT bundle_id FROM sync_control.bundles WHERE client_id = $1 AND sequence = $2 AND direction = 'in'",
                [bundle.site, String(bundle.sequence)])
        }
        if bundle.sequence <= lastSequence {
            let seen =
                try connection.scalar(
                    "SELECT 1 FROM sync_control.bundles WHERE bundle_id = $1", [bundle.bundleID]) != nil
            report.status = seen ? .alreadyApplied : .superseded
            try log(
                site: bundle.site, operation: "ingest", rows: 0, milliseconds: elapsed(since: started),
                status: "skipped",
                message: "bundle \(bundle.bundleID) sequence \(bundle.sequence): "
                    + "\(report.status.rawValue) (last applied \(lastSequence))")
            return report
        }
        if bundle.sequence > lastSequence + 1 {
            report.missedSequences = (lastSequence + 1)...(bundle.sequence - 1)
        }
        let clock = try siteClock(for: bundle)
        if clock.isCorrected {
            report.clockOffset = clock.offset
            try log(
                site: bundle.site, operation: "ingest", rows: 0, milliseconds: 0, status: "clock_skew",
                message: "bundle \(bundle.bundleID): the clock of site '\(bundle.site)' is off by "
                    + "\(Int(clock.offset.rounded())) seconds; its edit times were corrected by that")
        }
        try connection.run("SELECT set_config('fieldsync.applying', $1, true)", [bundle.site])
        let tables = Dictionary(try tables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let recorder = PostgresOutcomeRecorder(store: self, site: bundle.site, bundleID: bundle.bundleID)
        var pruned = Set<String>()
        while let batch = try bundle.nextBatch() {
            let applier: PostgresTableApplier
            do {
                applier = try PostgresTableApplier(
                    incoming: batch.schema, hub: tables[batch.schema.name], store: self,
                    editTime: { clock.editTime($0.changedAt) })
                if pruned.insert(applier.schema.name).inserted { try applier.pruneHistory() }
            } catch let problem as PostgresRowProblem {
                try batch.forEach { incoming in
                    guard incoming.originSequence > appliedThrough else { return }
                    let (change, clamped) = ConflictJudge.clampingBase(incoming, to: baseCeiling)
                    if clamped { report.clampedBases += 1 }
                    try recorder.reject(change, schema: batch.schema, reason: problem.reason, correct: false)
                    report.rejected += 1
                }
                continue
            }
            if try copyBatch(
                batch, applier: applier, site: bundle.site, appliedThrough: appliedThrough,
                baseCeiling: baseCeiling, recorder: recorder, report: &report)
            {
                continue
            }
            // The whole batch under one savepoint; if a row breaks a constraint, the batch is undone and applied
            // again row by row, each under its own savepoint, so that only the failing rows are set aside.
            let before = report
            try connection.execute("SAVEPOINT fieldsync_batch")
            do {
                try ingest(
                    batch, applier: applier, site: bundle.site, appliedThrough: appliedThrough,
                    baseCeiling: baseCeiling, recorder: recorder, rowByRow: false, report: &report)
                try connection.execute("RELEASE SAVEPOINT fieldsync_batch")
            } catch let error as StoreError where error.code == .constraint {
                try connection.execute("ROLLBACK TO SAVEPOINT fieldsync_batch")
                try connection.execute("RELEASE SAVEPOINT fieldsync_batch")
                report = before
                try ingest(
                    batch, applier: applier, site: bundle.site, appliedThrough: appliedThrough,
                    baseCeiling: baseCeiling, recorder: recorder, rowByRow: true, report: &report)
            }
        }
        try connection.run("SELECT set_config('fieldsync.applying', '', true)")
        appliedThrough = max(appliedThrough, changesThrough)
        try connection.run(
            "UPDATE sync_control.client_state SET last_sequence = $1, last_bundle = $2, applied_through = $3, "
                + "last_sync_version = greatest(last_sync_version, $4), acked_return = greatest(acked_return, $5), "
                + "last_received_at = now(), last_sync_timestamp = now(), sync_status = 'active', updated_at = now() "
                + "WHERE client_id = $6",
            [
                String(bundle.sequence), bundle.bundleID, String(appliedThrough),
                String(bundle.prerequisites[SyncProperty.hubVersion] ?? 0),
                String(bundle.prerequisites[SyncProperty.acknowledgedReturn] ?? 0), bundle.site,
            ])
        try connection.run(
            "UPDATE sync_control.table_sync_state SET last_synced_version = greatest(last_synced_version, $2) "
                + "WHERE client_id = $1", [bundle.site, String(bundle.prerequisites[SyncProperty.hubVersion] ?? 0)])
        try connection.run(
            "INSERT INTO sync_control.bundles (bundle_id, client_id, sequence, direction, status, rows, conflicts, "
                + "rejected) VALUES ($1, $2, $3, 'in', 'applied', $4, $5, $6)",
            [
                bundle.bundleID, bundle.site, String(bundle.sequence), String(report.applied),
                String(report.conflicts), String(report.rejected),
            ])
        try log(
            site: bundle.site, operation: "ingest", rows: report.applied, milliseconds: elapsed(since: started),
            status: report.logStatus, message: report.logMessage)
        if report.conflicts > 0 {
            try log(
                site: bundle.site, operation: "ingest", rows: report.conflicts, milliseconds: 0, status: "conflict",
                message: "\(report.conflicts) conflicts in bundle \(bundle.bundleID)")
        }
        return report
    }

    /// The bundle's clock (``SiteClock``): its `created` time against when the hub received it and when the hub
    /// wrote the return bundle the site acknowledges in it.
    private func siteClock(for bundle: IncomingBundle) throws -> SiteClock {
        var notBefore: Double?
        if let acknowledged = bundle.prerequisites[SyncProperty.acknowledgedReturn], acknowledged > 0 {
            notBefore = try connection.scalar(
                "SELECT extract(epoch FROM max(at))::text FROM sync_control.bundles WHERE client_id = $1 "
                    + "AND direction = 'out' AND sequence = $2", [bundle.site, String(acknowledged)]
            ).flatMap { Double($0) }
        }
        return SiteClock.assess(created: bundle.created, received: bundle.received, notBefore: notBefore)
    }

    /// Applies the changes of one batch (``BatchIngest``); `rowByRow` writes each row under its own savepoint.
    private func ingest(
        _ batch: any ChangeBatchSource, applier: PostgresTableApplier, site: String, appliedThrough: Int64,
        baseCeiling: Int64, recorder: PostgresOutcomeRecorder, rowByRow: Bool, report: inout IngestReport
    ) throws {
        try BatchIngest.run(
            batch, site: site, appliedThrough: appliedThrough, baseCeiling: baseCeiling, report: &report,
            refuse: { applier.refusal($0) },
            apply: { change, retry, report in
                try applier.ingest(change, recorder: recorder, rowByRow: rowByRow || retry, report: &report)
            },
            reject: { change, reason, correct in
                try recorder.reject(change, schema: batch.schema, reason: reason, correct: correct)
            })
    }

    /// The fast path for a batch: `COPY` into a staging table, then set-based statements (the version trigger
    /// stamps each row written with the site as origin).
    ///
    /// Taken only when the outcome is the same as applying the changes one by one: every change is from the
    /// sending site, not applied before, with a key no other change of the batch has. When no change is a delete
    /// and no key is at the hub yet, one `INSERT … SELECT` writes the batch. Otherwise the hub rows the batch
    /// touches are locked and fetched in one query (`SELECT … FOR UPDATE`), each change is judged by
    /// ``ConflictJudge`` exactly as on the row path (conflicts and rows to send again are recorded the same way),
    /// and the changes to apply are written by one `INSERT`, one `UPDATE … FROM` and one tombstone `UPDATE`.
    /// If the batch is not eligible, or if a row breaks a constraint, everything the fast path did is rolled back,
    /// `false` returned, and the batch goes the row-by-row way.
    ///
    /// - Returns: whether the batch was applied (its outcome counted in `report`).
    private func copyBatch(
        _ batch: any ChangeBatchSource, applier: PostgresTableApplier, site: String, appliedThrough: Int64,
        baseCeiling: Int64, recorder: PostgresOutcomeRecorder, report: inout IngestReport
    ) throws -> Bool {
        let schema = applier.schema
        guard configuration.copyThreshold > 0 else { return false }
        var count = 0
        var refused = false
        try batch.forEach { change in
            count += 1
            // A value the hub cannot keep is set aside on the row path, with its reason.
            if !refused && applier.refusal(change) != nil { refused = true }
        }
        guard count >= configuration.copyThreshold, !refused else { return false }
        stagingCounter += 1
        let staging = Identifier.quoted("fieldsync_staging_\(stagingCounter)")
        let table = qualified(schema.name)
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let keys = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        try connection.execute("SAVEPOINT fieldsync_copy")
        do {
            try connection.execute(
                "CREATE TEMP TABLE \(staging) ON COMMIT DROP AS SELECT \(columns) FROM \(table) "
                    + "WITH NO DATA; ALTER TABLE \(staging) ADD COLUMN fieldsync_op text, "
                    + "ADD COLUMN fieldsync_origin text, ADD COLUMN fieldsync_origin_seq bigint, "
                    + "ADD COLUMN fieldsync_ord bigint, ADD COLUMN fieldsync_edit_time double precision")
            var ordinal = 0
            try connection.copyIn(
                "COPY \(staging) (\(columns), fieldsync_op, fieldsync_origin, fieldsync_origin_seq, fieldsync_ord, "
                    + "fieldsync_edit_time) FROM STDIN"
            ) { writer in
                try batch.forEach { change in
                    let values = applier.localValues(change)
                    try writer.row(
                        values.map(PostgresTypes.parameter) + [
                            change.operation.rawValue, change.origin, String(change.originSequence),
                            String(ordinal), String(applier.editTime(change).rounded(.down)),
                        ])
                    ordinal += 1
                }
            }
            let check = try connection.query(
                "SELECT NOT EXISTS (SELECT 1 FROM \(staging) WHERE fieldsync_origin <> $1 "
                    + "OR fieldsync_origin_seq <= $2) "
                    + "AND (SELECT count(*) = count(DISTINCT (\(keys))) FROM \(staging)), "
                    + "EXISTS (SELECT 1 FROM \(staging) WHERE fieldsync_op = 'D') "
                    + "OR EXISTS (SELECT 1 FROM \(staging) JOIN \(table) USING (\(keys)))",
                [site, String(appliedThrough)]
            ).rows.first
            guard let check, check[0] == "t" else {
                try connection.execute("ROLLBACK TO SAVEPOINT fieldsync_copy; RELEASE SAVEPOINT fieldsync_copy")
                return false
            }
            if check[1] != "t" {
                let inserted = try connection.run(
                    "INSERT INTO \(table) (\(columns), sync_modified_at) SELECT \(columns), "
                        + "to_timestamp(fieldsync_edit_time) FROM \(staging) ORDER BY fieldsync_origin_seq")
                try connection.execute("DROP TABLE \(staging); RELEASE SAVEPOINT fieldsync_copy")
                report.applied += inserted
                return true
            }
            var outcome = report
            try merge(
                batch, count: count, staging: staging, applier: applier, baseCeiling: baseCeiling, recorder: recorder,
                report: &outcome)
            try connection.execute("DROP TABLE \(staging); RELEASE SAVEPOINT fieldsync_copy")
            report = outcome
            return true
        } catch let error as StoreError where error.code == .constraint {
            try connection.execute("ROLLBACK TO SAVEPOINT fieldsync_copy; RELEASE SAVEPOINT fieldsync_copy")
            return false
        }
    }

    /// Judges the staged changes of an eligible batch against the hub's rows (locked and fetched in one query)
    /// and writes those to apply set-based; see ``copyBatch``.
    private func merge(
        _ batch: any ChangeBatchSource, count: Int, staging: String, applier: PostgresTableApplier,
        baseCeiling: Int64, recorder: PostgresOutcomeRecorder, report: inout IngestReport
    ) throws {
        let schema = applier.schema
        let table = qualified(schema.name)
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let keys = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        let keyJoin = schema.primaryKey.map { "t.\(Identifier.quoted($0)) = s.\(Identifier.quoted($0))" }
            .joined(separator: " AND ")
        try connection.execute("ANALYZE \(staging)")
        let hubColumns = schema.columns.map { "t.\(Identifier.quoted($0.name))" }.joined(separator: ", ")
        let fetched = try connection.query(
            "SELECT s.fieldsync_ord, \(hubColumns), t.sync_version, t.sync_origin_client, t.sync_deleted, "
                + "extract(epoch FROM t.sync_modified_at) FROM \(staging) s JOIN \(table) t USING (\(keys)) "
                + "ORDER BY s.fieldsync_ord FOR UPDATE OF t")
        var hubRows: [Int: HubRowState] = [:]
        hubRows.reserveCapacity(fetched.rows.count)
        for row in fetched.rows {
            guard let ordinal = row[0].flatMap({ Int($0) }) else { continue }
            hubRows[ordinal] = applier.hubState(Array(row.dropFirst()))
        }
        var inserts: [Int] = []
        var updates: [Int] = []
        var tombstones: [Int] = []
        var ordinal = 0
        try batch.forEach { change in
            defer { ordinal += 1 }
            let (local, clamped) = ConflictJudge.clampingBase(applier.local(change), to: baseCeiling)
            if clamped { report.clampedBases += 1 }
            let hub = hubRows[ordinal]
            if ConflictJudge.hasImpossibleBase(local, hub: hub) { report.impossibleBases += 1 }
            switch ConflictJudge.action(for: local, hub: hub, schema: schema) {
            case .unchanged(let resend):
                report.unchanged += 1
                if resend { try recorder.resend(local, schema: schema) }
            case .conflict:
                let hub = hub!
                let editTime = applier.editTime(change)
                let (verdict, base) = try applier.settle(local, hub: hub, editTime: editTime)
                if let write = verdict.write {
                    if verdict.decision == .merged || write != local {
                        // A merged row: a change made at the hub, not what was staged, so written on its own.
                        try applier.write(verdict: verdict, write, editTime: editTime)
                    } else if write.operation == .delete {
                        tombstones.append(ordinal)
                    } else {
                        updates.append(ordinal)
                    }
                }
                try recorder.conflict(
                    local, schema: schema, hub: hub, rule: applier.rule, verdict: verdict, base: base,
                    editTime: editTime)
                report.count(verdict)
            case .apply:
                if local.operation == .delete {
                    tombstones.append(ordinal)
                } else if hub != nil {
                    updates.append(ordinal)
                } else {
                    inserts.append(ordinal)
                }
                report.applied += 1
            }
        }
        /// A filter on the staged rows in `ordinals` (none when that is every row), and its parameters.
        func only(_ ordinals: [Int], column: String) -> (sql: String, parameters: [String?]) {
            guard ordinals.count < count else { return ("", []) }
            return (
                " AND \(column) = ANY($1::bigint[])",
                ["{" + ordinals.map(String.init).joined(separator: ",") + "}"]
            )
        }
        if !tombstones.isEmpty {
            let filter = only(tombstones, column: "s.fieldsync_ord")
            try connection.run(
                "UPDATE \(table) t SET sync_deleted = true, sync_modified_at = to_timestamp(s.fieldsync_edit_time) "
                    + "FROM \(staging) s WHERE \(keyJoin)\(filter.sql)",
                filter.parameters)
        }
        if !updates.isEmpty {
            let sets =
                schema.columns.indices.filter { !schema.primaryKeyIndexes.contains($0) }
                .map { Identifier.quoted(schema.columns[$0].name) }.map { "\($0) = s.\($0)" }
                + ["sync_deleted = false", "sync_modified_at = to_timestamp(s.fieldsync_edit_time)"]
            let filter = only(updates, column: "s.fieldsync_ord")
            try connection.run(
                "UPDATE \(table) t SET \(sets.joined(separator: ", ")) FROM \(staging) s WHERE \(keyJoin)\(filter.sql)",
                filter.parameters)
        }
        if !inserts.isEmpty {
            let filter = only(inserts, column: "fieldsync_ord")
            try connection.run(
                "INSERT INTO \(table) (\(columns), sync_modified_at) SELECT \(columns), "
                    + "to_timestamp(fieldsync_edit_time) FROM \(staging) WHERE true\(filter.sql) "
                    + "ORDER BY fieldsync_origin_seq", filter.parameters)
        }
    }

    /// A statement prepared once per connection and SQL text.
    func prepared(_ sql: String) throws -> PostgresStatement {
        if let statement = preparedStatements[sql] { return statement }
        let statement = try connection.prepare("fieldsync_\(preparedStatements.count + 1)", sql)
        preparedStatements[sql] = statement
        return statement
    }
}
