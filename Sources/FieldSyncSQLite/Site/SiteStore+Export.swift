import FieldSyncBundle
import FieldSyncCore
import Foundation

/// What a site export wrote.
public struct SiteExport: Sendable {
    public var bundle: BundleWriter.Result
    /// Changed records carried (one per record, however often it changed).
    public var changes: Int
    /// The site's change counter the bundle is complete up to.
    public var changesThrough: Int64
    /// Records left out because a value cannot travel in its column's type; they stay pending until fixed.
    public var problems: [ExportProblem]
}

/// A record an export had to leave out, and why.
public struct ExportProblem: Sendable, Codable {
    public var table: String
    /// The record's primary key as a JSON array.
    public var key: String
    public var reason: String
}

extension SiteStore {
    /// Writes a delta bundle to the hub with every local change the hub has not acknowledged yet.
    ///
    /// Reads a consistent snapshot: changes committed while the bundle is written go in the next one. Each record
    /// travels once with its current values (a tombstone if it no longer exists), the counter of its latest
    /// change, the hub version it was based on, the columns changed since the last acknowledgement and the time
    /// of its latest change by the site's clock (unknown for rows present when tracking began). The bundle's
    /// sequence is taken before it is written.
    ///
    /// - Parameters:
    ///   - template: where and how to write; kind, sequence, prerequisites and properties are set here.
    ///   - clockOffset: seconds added to every edit time and to the bundle's `created` (unless the template sets
    ///     it), so that the bundle is the one a site whose clock is off by that much would write. For tests of the
    ///     hub's clock correction; default 0.
    public func exportBundle(
        keys: NodeKeys, hub: PublicIdentity, template: BundleWriter.Configuration, clockOffset: Double = 0
    ) throws -> SiteExport {
        guard keys.id == siteID else {
            throw StoreError(
                .invalidState, "the keys given are for '\(keys.id)', not for site '\(siteID)'",
                location: connection.path)
        }
        // The sequence is taken before the bundle is written: a crash while writing leaves a gap the hub reports,
        // never two different bundles with one sequence (which the hub takes as a site restored from a copy).
        let sequence = try connection.withTransaction {
            let next = try stateInteger("last_export_sequence") + 1
            try setState("last_export_sequence", .integer(next))
            return next
        }
        try connection.execute("BEGIN")
        var writer: BundleWriter?
        do {
            let tables = try tables()
            let counters = try counters()
            var configuration = template
            configuration.kind = .delta
            configuration.sequence = UInt64(clamping: sequence)
            configuration.prerequisites = [
                SyncProperty.acknowledgedReturn: try stateInteger("last_return_sequence"),
                SyncProperty.hubVersion: try stateInteger("hub_version"),
            ]
            configuration.properties = [SyncProperty.changesThrough: String(counters.value)]
            if clockOffset != 0 && configuration.created == nil {
                configuration.created = Date(timeIntervalSinceNow: clockOffset)
            }
            let bundleWriter = try BundleWriter(
                configuration: configuration, tables: tables, sender: keys, recipient: hub)
            writer = bundleWriter
            var changes = 0
            var problems: [ExportProblem] = []
            for schema in tables {
                changes += try exportChanges(
                    of: schema, after: counters.acknowledged, clockOffset: clockOffset, into: bundleWriter,
                    problems: &problems)
            }
            try connection.execute("COMMIT")
            // Records left out are kept pending past this bundle's acknowledgement before the bundle exists under
            // its final name: a crash in between leaves no bundle, never an acknowledged but unsent record.
            try connection.withTransaction {
                try recordProblems(problems)
                try setState("last_export_at", .text(nowText()))
                try setState("last_export_acknowledged_return", .integer(try stateInteger("last_return_sequence")))
                try setState("last_export_hub_version", .integer(try stateInteger("hub_version")))
                try log(
                    "export", sequence: sequence, rows: changes, status: "ok",
                    message: "bundle \(bundleWriter.header.bundleID), changes through \(counters.value)")
            }
            let result = try bundleWriter.finish()
            writer = nil
            return SiteExport(bundle: result, changes: changes, changesThrough: counters.value, problems: problems)
        } catch {
            writer?.abort()
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Whether a new bundle would tell the hub nothing: this site has written a bundle before, no change is waiting
    /// for the hub's acknowledgement, and the return bundle and hub version the last bundle acknowledged are still
    /// the latest this site has applied.
    ///
    /// A change the hub has not acknowledged yet always counts as something to send (a bundle may have been lost
    /// on its way), so this never holds back a change.
    public func hasNothingToSend() throws -> Bool {
        guard try stateInteger("last_export_sequence") > 0,
            case .integer(let acknowledgedReturn) = try state("last_export_acknowledged_return"),
            case .integer(let hubVersion) = try state("last_export_hub_version"),
            acknowledgedReturn == (try stateInteger("last_return_sequence")),
            hubVersion == (try stateInteger("hub_version"))
        else { return false }
        let acknowledged = try counters().acknowledged
        let pending = try connection.scalar(
            "SELECT count(*) FROM _fieldsync_rows WHERE local_seq > ?1 AND local_seq > 0", [.integer(acknowledged)])
        return pending == .integer(0)
    }

    /// Keeps the records left out pending past this bundle's acknowledgement, and lists them for `status`.
    private func recordProblems(_ problems: [ExportProblem]) throws {
        try connection.run("DELETE FROM _fieldsync_problems WHERE kind = 'export'")
        for problem in problems {
            try connection.run("UPDATE _fieldsync_counter SET value = value + 1 WHERE id = 1")
            try connection.run(
                "UPDATE _fieldsync_rows SET local_seq = (SELECT value FROM _fieldsync_counter WHERE id = 1), "
                    + "changed = -1 WHERE tbl = ? AND pk = ?", [.text(problem.table), .text(problem.key)])
            try connection.run(
                "INSERT INTO _fieldsync_problems (tbl, pk, reason, at) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (tbl, pk) DO UPDATE SET reason = excluded.reason, at = excluded.at, kind = 'export'",
                [.text(problem.table), .text(problem.key), .text(problem.reason), .text(nowText())])
        }
    }

    /// Appends the pending changes of one table; returns how many. A record with a value its column cannot carry
    /// is left out and listed in `problems`, so one bad value does not hold back every other change.
    private func exportChanges(
        of schema: TableSchema, after acknowledged: Int64, clockOffset: Double, into writer: BundleWriter,
        problems: inout [ExportProblem]
    ) throws -> Int {
        // strftime keeps NULL (unknown) as NULL; the modifier is SQLite's `±N.NNN seconds`.
        let editTime =
            clockOffset == 0 ? "changed_at" : "strftime('%Y-%m-%dT%H:%M:%fZ', changed_at, ?3)"
        let pending = try connection.prepare(
            "SELECT pk, local_seq, changed, hub_version, \(editTime) FROM _fieldsync_rows "
                + "WHERE tbl = ?1 AND local_seq > ?2 AND local_seq > 0 ORDER BY local_seq")
        var arguments: [Value] = [.text(schema.name), .integer(acknowledged)]
        if clockOffset != 0 { arguments.append(.text(String(format: "%+.3f seconds", clockOffset))) }
        try pending.bind(arguments)
        let lookup = try connection.prepare(
            "SELECT \(SQLText.columnList(schema)) FROM \(Identifier.quoted(schema.name)) "
                + "WHERE \(SQLText.keyMatch(schema, parameter: 1))")
        let keyValues = try connection.prepare(
            "SELECT " + schema.primaryKey.indices.map { "json_extract(?1, '$[\($0)]')" }.joined(separator: ", "))
        var count = 0
        while try pending.step() {
            let key = pending.value(at: 0)
            guard case .integer(let localSequence) = pending.value(at: 1),
                case .integer(let mask) = pending.value(at: 2),
                case .integer(let hubVersion) = pending.value(at: 3)
            else { continue }
            let changedAt = pending.value(at: 4).textValue
            try lookup.bind([key])
            var change: Change
            if try lookup.step() {
                change = Change(
                    operation: hubVersion == 0 ? .insert : .update, origin: siteID, originSequence: localSequence,
                    baseVersion: hubVersion, changedColumns: Self.columnSet(mask: mask, count: schema.columns.count),
                    values: lookup.row(), changedAt: changedAt)
            } else {
                // The record no longer exists: a tombstone carrying only its key.
                try keyValues.bind([key])
                _ = try keyValues.step()
                var values = [Value](repeating: .null, count: schema.columns.count)
                for (position, column) in schema.primaryKeyIndexes.enumerated() {
                    values[column] = keyValues.value(at: position)
                }
                change = Change(
                    operation: .delete, origin: siteID, originSequence: localSequence, baseVersion: hubVersion,
                    values: values, changedAt: changedAt)
            }
            lookup.reset()
            do {
                try writer.append(change, to: schema.name)
                count += 1
            } catch let error as BundleError where error.code == .invalidArgument {
                problems.append(ExportProblem(table: schema.name, key: key.textValue ?? "[]", reason: error.message))
            }
        }
        return count
    }

    /// The changed-columns set for a trigger's bit mask; `nil` (all columns) for -1.
    static func columnSet(mask: Int64, count: Int) -> ColumnSet? {
        guard mask != -1 else { return nil }
        return ColumnSet((0..<min(count, 62)).filter { mask & (Int64(1) << Int64($0)) != 0 })
    }
}
