import FieldSyncBundle
import FieldSyncCore
import Foundation

/// What importing a return bundle at a site did.
public struct SiteImport: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// The bundle was applied.
        case applied
        /// This very bundle was applied before; nothing changed.
        case alreadyApplied = "already_applied"
        /// A newer return bundle was applied already, and it carried everything this one does.
        case superseded
    }

    public var status: Status
    public var bundleID: String
    public var sequence: UInt64
    /// Return bundles that never arrived before this one (nothing is lost: this one carries their changes).
    public var missedSequences: ClosedRange<UInt64>?
    public var applied: Int
    /// Hub changes not applied because the record has a newer local edit, which goes to the hub in the next export.
    public var keptLocal: Int
    public var outcomes: [RowOutcome]
    /// Hub changes for tables this site does not track, by table: not applied (see `fieldsync site add-table`).
    public var untracked: [String: Int]
    /// Hub changes set aside because applying them would break a constraint at this site (a foreign key: a child
    /// whose parent is missing, or the delete of a parent local rows still refer to; a CHECK or NOT NULL
    /// constraint of the site's table), each with the reason.
    public var setAside: [ImportProblem]
}

/// A hub change a site did not apply, and why.
public struct ImportProblem: Sendable, Codable, Hashable {
    public var table: String
    /// The row's primary key as a JSON array, as the capture triggers write it.
    public var key: String
    public var reason: String
}

extension SiteStore {
    /// Applies a verified return bundle from the hub in one transaction.
    ///
    /// Takes the hub's acknowledgement first, then applies each change unless the record has a local edit the hub
    /// has not seen yet (that edit then goes to the hub and is judged there). Changes are applied without being
    /// captured again. A repeated or older bundle changes nothing and says so.
    ///
    /// Only tables this site tracks are written: changes for any other table are counted in
    /// ``SiteImport/untracked`` and logged, never applied (a site never starts tracking, overwrites or sends a
    /// table it did not choose; `fieldsync site add-table` adds one). A bundle that acknowledges more changes than
    /// the site has made is refused.
    ///
    /// Foreign keys are checked when all changes are in (SQLite's `defer_foreign_keys`), so rows may arrive in
    /// any order. A change that would still leave a broken foreign key (a child whose parent is not at this site,
    /// the delete of a parent local rows still refer to, or a change a foreign key's ON DELETE or ON UPDATE
    /// action would act on),
    /// or that breaks another constraint of the site's table
    /// (CHECK, NOT NULL, a unique value no order satisfies), is named in a ``ConstraintViolations`` error; the
    /// caller applies the bundle again with those changes in `setAside`, which then skips them and lists them in
    /// ``SiteImport/setAside`` and in `_fieldsync_problems`, so one such row never blocks the rest.
    ///
    /// A row a person decided at the hub (outcome ``RowOutcome/Kind/resolved``, the first time it arrives) is
    /// taken even over a newer local edit, and that edit is made again on top of it: the columns whose local value
    /// differs from the site's version the hub recorded (``RowOutcome/values``) are written back after the
    /// decided row, through the capture triggers, so they travel as a new change based on the decided row and
    /// keep their edit time. A newer local delete stands instead (it then builds on the decided row); a decided
    /// delete removes the row. The local row as it was is kept in `_fieldsync_outcomes.local_row` either way.
    public func importReturn(
        _ contents: BundleContents, header: BundleHeader, setAside: [ImportProblem] = []
    ) throws -> SiteImport {
        let hubID = try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'hub_id'") ?? ""
        guard header.sender == hubID, header.recipient == siteID, header.kind == .return else {
            throw StoreError(
                .invalidState,
                "bundle is a \(header.kind.rawValue) bundle from '\(header.sender)' to "
                    + "'\(header.recipient)'; this site '\(siteID)' takes return bundles from its hub '\(hubID)'",
                location: connection.path)
        }
        let properties = contents.manifest.properties
        let acknowledgedText = properties[SyncProperty.acknowledgedChange]
        let acknowledgedChange = acknowledgedText.flatMap { Int64($0) }
        let throughText = properties[SyncProperty.throughVersion]
        let throughVersion = throughText.flatMap { Int64($0) }
        for (name, text, number) in [
            (SyncProperty.acknowledgedChange, acknowledgedText, acknowledgedChange),
            (SyncProperty.throughVersion, throughText, throughVersion),
        ] where text != nil && (number == nil || number! < 0) {
            throw StoreError(
                .invalidState,
                "return bundle \(header.sequence) says \(name) is '\(text!.prefix(40))', which is not a "
                    + "non-negative whole number; nothing was applied", location: connection.path)
        }
        let skip = Set(setAside.map { $0.table + "\u{0}" + $0.key })
        // A larger page cache for the import's one transaction: a first load touches the table, its indexes and
        // _fieldsync_rows at once, and SQLite's 2 MB default spills pages to disk and reads them back.
        try connection.execute("PRAGMA cache_size = -65536")
        defer { try? connection.execute("PRAGMA cache_size = -2000") }
        return try connection.withTransaction {
            let last = UInt64(clamping: try stateInteger("last_return_sequence"))
            var report = SiteImport(
                status: .applied, bundleID: header.bundleID, sequence: header.sequence, missedSequences: nil,
                applied: 0, keptLocal: 0, outcomes: [], untracked: [:], setAside: [])
            if header.sequence <= last {
                let seen =
                    try connection.scalar(
                        "SELECT 1 FROM _fieldsync_received WHERE bundle_id = ?", [.text(header.bundleID)]) != nil
                report.status = seen ? .alreadyApplied : .superseded
                return report
            }
            if header.sequence > last + 1 { report.missedSequences = (last + 1)...(header.sequence - 1) }
            if let acknowledged = acknowledgedChange {
                let counter = try counters().value
                guard acknowledged <= counter else {
                    throw StoreError(
                        .invalidState,
                        "return bundle \(header.sequence) acknowledges this site's changes up to \(acknowledged), "
                            + "but this site has made only \(counter); taking it would stop changes from being sent. "
                            + "Refused: nothing was applied (if this database was restored from an older copy, see "
                            + "docs/sync.md, 'A site restored from a backup')", location: connection.path)
                }
                try connection.run(
                    "UPDATE _fieldsync_counter SET acked = max(acked, ?) WHERE id = 1", [.integer(acknowledged)])
            }
            let acknowledged = try counters().acknowledged
            // With no unacknowledged local edit anywhere (a first load, a quiet site), no record needs the check.
            let anyPending =
                try connection.scalar(
                    "SELECT 1 FROM _fieldsync_rows WHERE local_seq > ? AND local_seq > 0 LIMIT 1",
                    [.integer(acknowledged)]
                ) != nil
            var decided: [String: [RowOutcome]] = [:]
            if let text = properties[SyncProperty.outcomes] {
                report.outcomes = try JSONDecoder().decode([RowOutcome].self, from: Data(text.utf8))
                let recorded = try recordOutcomes(report.outcomes, returnSequence: Int64(header.sequence))
                // Only a decision seen for the first time overrides a local edit: a later return bundle that
                // repeats it (the site's acknowledgement has not reached the hub yet) must not undo that edit.
                decided = Dictionary(grouping: recorded.filter { $0.kind == .resolved }, by: \.table)
            }
            try connection.execute("PRAGMA defer_foreign_keys = ON")
            try connection.run("INSERT INTO _fieldsync_applying (origin) VALUES (?)", [.text(hubID)])
            let tracked = Dictionary(try tables().map { ($0.name, $0) }) { first, _ in first }
            var appliers: [String: ReturnApplier] = [:]
            var applierOrder: [String] = []
            var failed: [(applier: ReturnApplier, change: Change, error: StoreError)] = []
            while let batch = try contents.nextBatch() {
                let name = batch.schema.name
                // Tables the site did not choose are never written, whatever the hub sends: a table the hub added
                // later may hold local data the site keeps to itself.
                guard let local = tracked[name] else {
                    var count = 0
                    try batch.forEach { _ in count += 1 }
                    report.untracked[name, default: 0] += count
                    continue
                }
                if appliers[name] == nil {
                    appliers[name] = try ReturnApplier.make(
                        for: batch.schema, local: local, connection: connection, decided: decided[name] ?? [])
                    applierOrder.append(name)
                }
                let applier = appliers[name]!
                try batch.forEach { change in
                    if !skip.isEmpty {
                        let key = try applier.keyText(of: change)
                        if skip.contains(name + "\u{0}" + key),
                            let problem = setAside.first(where: { $0.table == name && $0.key == key })
                        {
                            if !report.setAside.contains(problem) { report.setAside.append(problem) }
                            return
                        }
                    }
                    do {
                        if try applier.apply(change, acknowledged: anyPending ? acknowledged : nil) {
                            report.applied += 1
                        } else {
                            report.keptLocal += 1
                        }
                    } catch let error as StoreError where error.code == .constraint {
                        failed.append((applier, change, error))
                    }
                }
            }
            // A row that broke a constraint (say, a unique value another row still held) is retried once the rest
            // is in; what still fails is set aside (see applyCycles).
            var progress = true
            while progress && !failed.isEmpty {
                progress = false
                var still: [(applier: ReturnApplier, change: Change, error: StoreError)] = []
                for entry in failed {
                    do {
                        _ = try entry.applier.apply(entry.change, acknowledged: anyPending ? acknowledged : nil)
                        report.applied += 1
                        progress = true
                    } catch let error as StoreError where error.code == .constraint {
                        still.append((entry.applier, entry.change, error))
                    }
                }
                failed = still
            }
            if !failed.isEmpty {
                report.applied += try applyCycles(failed)
            }
            for applier in appliers.values { try applier.flushVersions() }
            try connection.run("DELETE FROM _fieldsync_applying")
            // Captured now, on top of the decided rows and their hub versions.
            for name in applierOrder { try appliers[name]!.makeLocalEditsAgain() }
            let violations = try foreignKeyViolations(written: appliers.mapValues(\.written))
            if !violations.isEmpty { throw ConstraintViolations(problems: violations, location: connection.path) }
            try recordSetAside(report.setAside)
            try recordUntracked(report.untracked, returnSequence: Int64(header.sequence))
            try setState("last_return_sequence", .integer(Int64(header.sequence)))
            try setState("last_return_bundle", .text(header.bundleID))
            try connection.run(
                "INSERT INTO _fieldsync_received (bundle_id, sequence, applied_at) VALUES (?, ?, ?) "
                    + "ON CONFLICT (bundle_id) DO NOTHING",
                [.text(header.bundleID), .integer(Int64(header.sequence)), .text(nowText())])
            if let through = throughVersion {
                try setState("hub_version", .integer(max(through, try stateInteger("hub_version"))))
            }
            try setState("last_import_at", .text(nowText()))
            var message =
                "bundle \(header.bundleID): \(report.applied) applied, \(report.keptLocal) kept local, "
                + "\(report.outcomes.count) outcomes"
            if !report.untracked.isEmpty {
                message +=
                    "; not applied, for tables this site does not track: "
                    + report.untracked.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }
                    .joined(separator: ", ")
            }
            if !report.setAside.isEmpty {
                message +=
                    "; set aside (constraint): "
                    + report.setAside.map { "\($0.table) \($0.key)" }.joined(separator: ", ")
            }
            try log(
                "import", sequence: Int64(header.sequence), rows: report.applied,
                status: report.untracked.isEmpty && report.setAside.isEmpty ? "ok" : "warning", message: message)
            return report
        }
    }

    /// Lists hub changes this import did not apply for a broken foreign key, for `status`.
    private func recordSetAside(_ problems: [ImportProblem]) throws {
        for problem in problems {
            try connection.run(
                "INSERT INTO _fieldsync_problems (tbl, pk, reason, at, kind) VALUES (?, ?, ?, ?, 'import') "
                    + "ON CONFLICT (tbl, pk) DO UPDATE SET reason = excluded.reason, at = excluded.at, kind = 'import'",
                [.text(problem.table), .text(problem.key), .text(problem.reason), .text(nowText())])
        }
    }

    /// Remembers, for `status`, the hub's tables this site received changes for but does not track.
    private func recordUntracked(_ untracked: [String: Int], returnSequence: Int64) throws {
        for (table, changes) in untracked {
            try connection.run(
                "INSERT INTO _fieldsync_untracked (tbl, changes, return_sequence, at) VALUES (?, ?, ?, ?) "
                    + "ON CONFLICT (tbl) DO UPDATE SET changes = changes + excluded.changes, "
                    + "return_sequence = excluded.return_sequence, at = excluded.at",
                [.text(table), .integer(Int64(changes)), .integer(returnSequence), .text(nowText())])
        }
    }

    /// The hub changes of this import that leave a broken foreign key, each named with the change to set aside:
    /// the child row when the hub wrote it (`written`: keys written or deleted by this import, by table),
    /// otherwise the parent row the hub removed. Only reads.
    ///
    /// Nothing to do while SQLite counts no violation made in this transaction. Otherwise the rows that break a
    /// foreign key are looked for in the tables written and the tables whose foreign keys refer to them; rows that
    /// broke one before this import (written while foreign keys were off) and that no change explains are left
    /// alone. If violations remain that no change explains, the import stops with a message naming them.
    func foreignKeyViolations(written: [String: Set<String>]) throws -> [ImportProblem] {
        guard connection.hasUnresolvedForeignKeys else { return [] }
        let touched = Set(written.keys)
        let schemas = Dictionary(try tables().map { ($0.name, $0) }) { first, _ in first }
        // Tables the site does not track may refer to tracked ones too: a hub delete must not orphan their rows.
        var children = touched
        for (name, kind) in try SQLiteSchema.tableKinds(in: connection) where kind == .table {
            if try Self.parents(of: name, connection: connection).contains(where: touched.contains) {
                children.insert(name)
            }
        }
        var problems: [ImportProblem] = []
        var unexplained: [String] = []
        for child in children.sorted() {
            let rows = try connection.query(
                "SELECT rowid, \"parent\", fkid FROM pragma_foreign_key_check(?)", [.text(child)])
            for row in rows {
                guard let parent = row[1].textValue, let fkid = row[2].integerValue else { continue }
                let key = try foreignKey(of: child, id: fkid)
                // A row of an untracked table is named by its rowid.
                let childKeyText = schemas[child].map { SQLText.keyJSON($0, prefix: "t") } ?? "json_array(t.rowid)"
                let columns = key.from.map { "t." + Identifier.quoted($0) }
                let values: [Value]?
                if let rowid = row[0].integerValue {
                    values = try connection.query(
                        "SELECT \(childKeyText), json_array(\(columns.joined(separator: ", "))) "
                            + "FROM \(Identifier.quoted(child)) AS t WHERE t.rowid = ?", [.integer(rowid)]
                    ).first
                } else if schemas[child] == nil {
                    values = nil
                } else {
                    // WITHOUT ROWID: pragma_foreign_key_check gives no rowid; find a row by its dangling value.
                    let target = key.to.map(Identifier.quoted)
                    values = try connection.query(
                        "SELECT \(childKeyText), json_array(\(columns.joined(separator: ", "))) "
                            + "FROM \(Identifier.quoted(child)) AS t WHERE "
                            + columns.map { "\($0) IS NOT NULL" }.joined(separator: " AND ")
                            + " AND NOT EXISTS (SELECT 1 FROM \(Identifier.quoted(parent)) AS p WHERE "
                            + zip(columns, target).map { "p.\($1) = \($0)" }.joined(separator: " AND ") + ") LIMIT 1"
                    ).first
                }
                let childKey = values?[0].textValue ?? "?"
                let parentKey = values?[1].textValue ?? "?"
                let constraint =
                    "FOREIGN KEY (\(key.from.joined(separator: ", "))) of \(child) \(childKey) refers to "
                    + "\(parent) \(parentKey)"
                if written[child]?.contains(childKey) == true {
                    problems.append(
                        ImportProblem(
                            table: child, key: childKey,
                            reason: "the hub's row breaks a \(constraint), which is not at this site"))
                } else if key.toPrimaryKey, written[parent]?.contains(parentKey) == true {
                    problems.append(
                        ImportProblem(
                            table: parent, key: parentKey,
                            reason: "the hub deleted this row, but \(constraint) still; the row stays here"))
                } else {
                    unexplained.append("\(constraint), which is not at this site")
                }
            }
        }
        if problems.isEmpty {
            throw StoreError(
                .constraint,
                "the hub's changes break a foreign key: "
                    + (unexplained.isEmpty ? "SQLite did not say which" : unexplained.joined(separator: "; "))
                    + "; nothing from this bundle was applied", location: connection.path)
        }
        return Array(Set(problems)).sorted { ($0.table, $0.key) < ($1.table, $1.key) }
    }

    /// The columns of foreign key `id` of `table`, and whether it refers to the parent's primary key.
    private func foreignKey(of table: String, id: Int64) throws -> (from: [String], to: [String], toPrimaryKey: Bool) {
        let rows = try connection.query(
            "SELECT \"from\", \"to\", \"table\" FROM pragma_foreign_key_list(?) WHERE id = ? ORDER BY seq",
            [.text(table), .integer(id)])
        let from = rows.compactMap { $0[0].textValue }
        var to = rows.map { $0[1].textValue }
        let parent = rows.first?[2].textValue ?? ""
        let parentKey = try tables().first { $0.name == parent }?.primaryKey ?? []
        if to.allSatisfy({ $0 == nil }) { to = parentKey.map { $0 } }
        let columns = to.compactMap { $0 }
        return (from, columns, columns == parentKey)
    }

    /// Rows that still break a unique constraint after every retry form cycles, such as two rows that swapped
    /// values: one at a time they can never go in. Where no other table's foreign key acts on delete, the rows in
    /// question are removed and written again together (foreign keys are deferred to the end). A row that cannot go
    /// in even so (it breaks a CHECK or NOT NULL constraint of this site's table, or a unique value no order
    /// satisfies), or whose removal another table's foreign key would act on, is named in a
    /// ``ConstraintViolations`` error, so that the caller sets it aside and applies the rest.
    private func applyCycles(_ failed: [(applier: ReturnApplier, change: Change, error: StoreError)]) throws -> Int {
        // A change held back because a foreign key would act on local rows (ReturnApplier.checkForeignKeyActions)
        // forms no cycle: it is set aside as it is.
        var problems: [ImportProblem] = []
        var cycles: [(applier: ReturnApplier, change: Change, error: StoreError)] = []
        for entry in failed {
            let key = try entry.applier.keyText(of: entry.change)
            if entry.applier.heldByForeignKeyAction.contains(key) {
                problems.append(ImportProblem(table: entry.applier.table, key: key, reason: entry.error.message))
            } else {
                cycles.append(entry)
            }
        }
        let failed = cycles
        for entry in failed where try !deletesAreSafe(entry.applier.table) {
            problems.append(
                ImportProblem(
                    table: entry.applier.table, key: try entry.applier.keyText(of: entry.change),
                    reason: "the hub's row breaks a constraint here (\(entry.error.message)), and it cannot be "
                        + "written again with the rows it conflicts with"))
        }
        if !problems.isEmpty { throw ConstraintViolations(problems: problems, location: connection.path) }
        for entry in failed { try entry.applier.remove(entry.change) }
        for entry in failed {
            do {
                _ = try entry.applier.apply(entry.change, acknowledged: nil)
            } catch let error as StoreError where error.code == .constraint {
                problems.append(
                    ImportProblem(
                        table: entry.applier.table, key: try entry.applier.keyText(of: entry.change),
                        reason: "the hub's row breaks a constraint here: \(error.message)"))
            }
        }
        if !problems.isEmpty { throw ConstraintViolations(problems: problems, location: connection.path) }
        return failed.count
    }

    /// Whether deleting rows of `table` triggers nothing elsewhere: no foreign key referencing it has an
    /// ON DELETE action (NO ACTION is deferred to commit here, so it is safe).
    private func deletesAreSafe(_ table: String) throws -> Bool {
        for other in try SQLiteSchema.tableNames(in: connection) {
            let keys = try connection.query(
                "SELECT on_delete FROM pragma_foreign_key_list(?) WHERE \"table\" = ?", [.text(other), .text(table)])
            if keys.contains(where: { $0[0].textValue != "NO ACTION" }) { return false }
        }
        return true
    }

    /// Keeps what the hub said about this site's rows, with the local version of each row as it is now.
    ///
    /// - Returns: the outcomes not recorded before (an outcome repeats until the hub learns the site has it).
    private func recordOutcomes(_ outcomes: [RowOutcome], returnSequence: Int64) throws -> [RowOutcome] {
        let tables = Dictionary(try tables().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var recorded: [RowOutcome] = []
        for outcome in outcomes where outcome.kind != .resend {
            let exists = try connection.scalar(
                "SELECT 1 FROM _fieldsync_outcomes WHERE kind = ? AND hub_id = ?",
                [.text(outcome.kind.rawValue), .integer(outcome.id)])
            guard exists == nil else { continue }
            recorded.append(outcome)
            var localRow: Value = .null
            if let schema = tables[outcome.table] {
                let rows = try connection.query(
                    "SELECT \(SQLText.columnList(schema)) FROM \(Identifier.quoted(schema.name)) "
                        + "WHERE \(SQLText.keyMatch(schema, parameter: 1))", [.text(outcome.key)])
                if let row = rows.first { localRow = .text(Value.jsonArray(row)) }
            }
            try connection.run(
                "INSERT INTO _fieldsync_outcomes (kind, tbl, pk, origin_seq, hub_id, reason, local_row, "
                    + "return_sequence, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(outcome.kind.rawValue), .text(outcome.table), .text(outcome.key),
                    .integer(outcome.originSequence), .integer(outcome.id), .text(outcome.reason), localRow,
                    .integer(returnSequence), .text(nowText()),
                ])
        }
        return recorded
    }
}

/// Hub changes that would break a constraint at the site (a foreign key, a CHECK or NOT NULL constraint, a unique
/// value no order satisfies), each named with its table, key and the constraint.
///
/// ``SiteStore/importReturn(_:header:setAside:)`` throws it (rolling back); applying the bundle again with these
/// changes set aside applies the rest.
public struct ConstraintViolations: Error, Sendable, CustomStringConvertible {
    public var problems: [ImportProblem]
    /// The site database.
    public var location: String

    public var description: String {
        "\(location): " + problems.map { "\($0.table) \($0.key): \($0.reason)" }.joined(separator: "; ")
    }
}

/// Applies one table's hub changes at a site: maps the hub's columns onto the local table by name, skips records
/// with unacknowledged local edits (except rows a person decided at the hub), and records the hub version of each
/// applied record.
final class ReturnApplier {
    private let incoming: TableSchema
    /// The local table's columns that the hub also has, with the local key; what the writer writes.
    private let projection: TableSchema
    /// The local table's column names in its tracked order, the order of the capture triggers' change masks.
    private let localColumns: [String]
    private let connection: SQLiteConnection
    private let writer: SQLiteTableWriter
    /// For each local column of the writer's schema, the position of the same column in the incoming schema.
    private let mapping: [Int]
    private let pending: SQLiteStatement
    private let recordVersion: SQLiteStatement
    /// Hub versions of applied records, written in key order in groups: far fewer page visits in
    /// `_fieldsync_rows` than one random insert per row.
    private var versions: [(key: String, version: Int64)] = []
    /// Keys of the records this applier wrote, for naming the change behind a broken foreign key.
    private(set) var written = Set<String>()
    private let canonicalKey: SQLiteStatement
    private let keyIndexes: [Int]
    /// SQLite's affinity of each local key column, for building plain keys without a round trip.
    private let keyAffinities: [Character]
    /// Rows a person decided at the hub (outcome `resolved`), by key as the capture triggers write it.
    private var decided: [String: RowOutcome] = [:]
    /// How each decided row meets the local row, settled on first sight and kept for a retry of the same row.
    private var decidedPlans: [String: DecidedRow?] = [:]
    /// Local edits to make again once the decided rows are in, by key.
    private var editsAgain: [String: EditAgain] = [:]
    /// The foreign keys of local tables (tracked or not) that act when a row of this table is deleted or changed.
    private let foreignKeyActions: [ForeignKeyAction]
    /// Keys of the changes held back because a foreign key's action would act on local rows.
    private(set) var heldByForeignKeyAction = Set<String>()

    /// A foreign key that acts on its rows when the row they refer to is deleted or changed.
    private struct ForeignKeyAction {
        /// Finds a row the action would act on; binds this table's key, then (for an update) the new values of
        /// the referenced columns.
        var statement: SQLiteStatement
        /// `FOREIGN KEY (…) of TABLE ON DELETE CASCADE`, for a person.
        var description: String
        /// For an ON UPDATE action, the incoming positions of the referenced columns; `nil` for ON DELETE.
        var referenced: [Int]?
    }

    /// What taking a decided row means for the local row.
    private enum DecidedRow {
        /// Write it, whatever the local row: there is no newer local edit, or the decision deletes the row.
        case take
        /// The local row was deleted since: the deletion stands, and now builds on the decided row's version.
        case keepDeletion
        /// Write it, then make these local edits again on top.
        case editAgain(EditAgain)
    }

    /// Columns edited locally after the site's version the hub decided on, and when.
    private struct EditAgain {
        var key: Value
        var columns: [(name: String, value: Value)]
        /// The edit time the capture recorded (`_fieldsync_rows.changed_at`), kept for the change made again.
        var changedAt: Value
    }

    private init(incoming: TableSchema, local: TableSchema, connection: SQLiteConnection) throws {
        self.incoming = incoming
        self.connection = connection
        let shared = local.columns.filter { incoming.columnIndex(named: $0.name) != nil }
        let projection = try TableSchema(name: local.name, columns: shared, primaryKey: local.primaryKey)
        self.projection = projection
        localColumns = local.columns.map(\.name)
        writer = try SQLiteTableWriter(schema: projection, connection: connection)
        mapping = shared.map { incoming.columnIndex(named: $0.name)! }
        keyIndexes = local.primaryKey.map { incoming.columnIndex(named: $0)! }
        pending = try connection.prepare("SELECT local_seq FROM _fieldsync_rows WHERE tbl = ?1 AND pk = ?2")
        recordVersion = try connection.prepare(
            "INSERT INTO _fieldsync_rows (tbl, pk, hub_version) VALUES (?1, ?2, ?3) "
                + "ON CONFLICT (tbl, pk) DO UPDATE SET hub_version = excluded.hub_version")
        // The capture triggers key a record by json_array of its stored values, after the column's affinity has
        // converted them ('3' in a NUMERIC column is stored as 3). A scratch table with the same declared key types
        // converts incoming values the same way, so both sides name a record alike.
        let declared = try connection.query(
            "SELECT name, type FROM pragma_table_info(?)", [.text(local.name)]
        ).reduce(into: [String: String]()) { $0[$1[0].textValue ?? ""] = $1[1].textValue ?? "" }
        keyAffinities = local.primaryKey.map { Self.affinity(of: declared[$0] ?? "") }
        let scratch = Identifier.quoted("_fieldsync_key_\(local.name)")
        let keyColumns = local.primaryKey.map { "\(Identifier.quoted($0)) \(declared[$0] ?? "")" }
        try connection.execute("CREATE TEMP TABLE IF NOT EXISTS \(scratch) (\(keyColumns.joined(separator: ", ")))")
        let keyList = local.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        canonicalKey = try connection.prepare(
            "INSERT OR REPLACE INTO temp.\(scratch) (rowid, \(keyList)) VALUES (1, "
                + Array(repeating: "?", count: keyIndexes.count).joined(separator: ", ")
                + ") RETURNING json_array(\(keyList))")
        foreignKeyActions = try Self.foreignKeyActions(on: local, incoming: incoming, connection: connection)
    }

    /// For each foreign key of a local table (tracked or not) that refers to `table` with an action (ON DELETE or
    /// ON UPDATE CASCADE, SET NULL, SET DEFAULT), a check that finds a local row the action would act on when the
    /// row of `table` with the bound key is deleted or its referenced columns change. Identifiers come from the
    /// site's own schema.
    private static func foreignKeyActions(on table: TableSchema, incoming: TableSchema, connection: SQLiteConnection)
        throws -> [ForeignKeyAction]
    {
        var actions: [ForeignKeyAction] = []
        let acting = ["CASCADE", "SET NULL", "SET DEFAULT"]
        for child in try SQLiteSchema.tableNames(in: connection) {
            let rows = try connection.query(
                "SELECT id, \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) "
                    + "WHERE \"table\" = ? COLLATE NOCASE ORDER BY id, seq", [.text(child), .text(table.name)])
            for (_, columns) in Dictionary(grouping: rows, by: { $0[0].integerValue ?? 0 }).sorted(by: {
                $0.key < $1.key
            }) {
                let from = columns.compactMap { $0[1].textValue }
                let to = columns.map { $0[2].textValue }.enumerated().map { index, name in
                    name ?? (index < table.primaryKey.count ? table.primaryKey[index] : "")
                }
                let join = zip(from, to).map { "c.\(Identifier.quoted($0)) = p.\(Identifier.quoted($1))" }
                let key = table.primaryKey.map { "p.\(Identifier.quoted($0)) = ?" }
                let select =
                    "SELECT 1 FROM \(Identifier.quoted(child)) AS c JOIN \(Identifier.quoted(table.name)) AS p ON "
                    + (join + key).joined(separator: " AND ")
                let named = "FOREIGN KEY (\(from.joined(separator: ", "))) of \(child)"
                if let action = columns.first?[4].textValue?.uppercased(), acting.contains(action) {
                    actions.append(
                        ForeignKeyAction(
                            statement: try connection.prepare(select + " LIMIT 1"),
                            description: "\(named) ON DELETE \(action)", referenced: nil))
                }
                // An update acts only when a referenced column the hub carries gets another value.
                let referenced = to.compactMap { incoming.columnIndex(named: $0) }
                if let action = columns.first?[3].textValue?.uppercased(), acting.contains(action),
                    referenced.count == to.count
                {
                    let changed = to.map { "p.\(Identifier.quoted($0)) IS NOT ?" }.joined(separator: " OR ")
                    actions.append(
                        ForeignKeyAction(
                            statement: try connection.prepare(select + " AND (\(changed)) LIMIT 1"),
                            description: "\(named) ON UPDATE \(action)", referenced: referenced))
                }
            }
        }
        return actions
    }

    /// Throws if writing `change` would make a foreign key's action change or delete local rows (see
    /// ``foreignKeyActions(on:incoming:connection:)``): SQLite would do it behind the capture triggers, which stay
    /// quiet while the hub's changes are applied, so the site would lose or change rows the hub keeps, unsaid.
    private func checkForeignKeyActions(_ change: Change, key: String) throws {
        for action in foreignKeyActions where (action.referenced == nil) == (change.operation == .delete) {
            try action.statement.bind(
                keyIndexes.map { change.values[$0] } + (action.referenced ?? []).map { change.values[$0] })
            let found = try action.statement.step()
            action.statement.reset()
            guard found else { continue }
            heldByForeignKeyAction.insert(key)
            throw StoreError(
                .constraint,
                "the hub \(change.operation == .delete ? "deleted this row" : "changed a value of this row"), but "
                    + "local rows still refer to it through \(action.description), which would change or delete "
                    + "them here without the hub hearing of it; the change is set aside until no local row refers to "
                    + "the row's old value", location: connection.path)
        }
        heldByForeignKeyAction.remove(key)
    }

    /// An applier for `incoming`'s table, which the site tracks as `local`.
    ///
    /// - Parameter decided: outcomes of kind `resolved` for this table, seen for the first time.
    static func make(
        for incoming: TableSchema, local: TableSchema, connection: SQLiteConnection, decided: [RowOutcome] = []
    ) throws -> ReturnApplier {
        for key in local.primaryKey where incoming.columnIndex(named: key) == nil {
            throw StoreError(
                .schema, "the hub's table '\(incoming.name)' lacks the site's primary-key column '\(key)'",
                location: connection.path)
        }
        let applier = try ReturnApplier(incoming: incoming, local: local, connection: connection)
        for outcome in decided {
            // The outcome names the row by the hub's key columns in the hub's order.
            guard let values = Value.arrayFromJSON(outcome.key), values.count == incoming.primaryKey.count else {
                continue
            }
            let ordered = local.primaryKey.compactMap { name in
                incoming.primaryKey.firstIndex(of: name).map { values[$0] }
            }
            guard ordered.count == local.primaryKey.count, ordered.count == values.count else { continue }
            if let key = try applier.keyJSON(ordered).textValue { applier.decided[key] = outcome }
        }
        return applier
    }

    /// The key of the record `change` names, as the capture triggers write it.
    func keyText(of change: Change) throws -> String {
        try keyJSON(keyIndexes.map { change.values[$0] }).textValue ?? "[]"
    }

    /// Writes the collected hub versions to `_fieldsync_rows`, in key order.
    func flushVersions() throws {
        // Key order, and for one key the later version last, so it is the one that stays.
        let ordered = versions.enumerated().sorted {
            $0.element.key == $1.element.key
                ? $0.offset < $1.offset : $0.element.key.utf8.lexicographicallyPrecedes($1.element.key.utf8)
        }.map(\.element)
        for entry in ordered {
            try recordVersion.bind([.text(incoming.name), .text(entry.key), .integer(entry.version)])
            while try recordVersion.step() {}
        }
        versions.removeAll(keepingCapacity: true)
    }

    /// The local table's name.
    var table: String { incoming.name }

    /// Deletes the record `change` names, without capturing it.
    func remove(_ change: Change) throws {
        var tombstone = change
        tombstone.operation = .delete
        tombstone.values = mapping.map { change.values[$0] }
        try writer.apply(tombstone)
    }

    /// The record's key as the capture triggers write it: `json_array` of the values as stored.
    ///
    /// Plain keys (an integer in an INTEGER or NUMERIC column, text without quotes, backslashes or control
    /// characters in a TEXT or untyped column) are stored as given and written here directly; any other key goes
    /// through the scratch table so that SQLite applies the column's affinity and its own JSON form.
    private func keyJSON(_ values: [Value]) throws -> Value {
        var parts: [String] = []
        for (value, affinity) in zip(values, keyAffinities) {
            switch value {
            case .integer(let number) where affinity == "I" || affinity == "N" || affinity == "B":
                parts.append(String(number))
            case .text(let text)
            where (affinity == "T" || affinity == "B")
                && text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5c }):
                parts.append("\"" + text + "\"")
            default:
                parts = []
            }
            if parts.isEmpty { break }
        }
        if parts.count == values.count { return .text("[" + parts.joined(separator: ",") + "]") }
        try canonicalKey.bind(values)
        defer { canonicalKey.reset() }
        guard try canonicalKey.step() else {
            throw StoreError(.statement, "cannot compute the key of a hub row for table '\(incoming.name)'")
        }
        return canonicalKey.value(at: 0)
    }

    /// SQLite's column affinity for a declared type (sqlite.org/datatype3.html §3.1): I(nteger), T(ext),
    /// B(lob, i.e. none), R(eal) or N(umeric).
    static func affinity(of declared: String) -> Character {
        let type = declared.uppercased()
        if type.contains("INT") { return "I" }
        if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") { return "T" }
        if type.contains("BLOB") || type.isEmpty { return "B" }
        if type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB") { return "R" }
        return "N"
    }

    /// `table [key values]` for messages.
    func describeKey(_ change: Change) -> String {
        "\(incoming.name) \(Value.jsonArray(keyIndexes.map { change.values[$0] }))"
    }

    /// Applies `change` unless its record has a local edit newer than `acknowledged` (`nil`: no record has one);
    /// returns whether it applied. A row a person decided at the hub is applied over such an edit (see
    /// ``SiteStore/importReturn(_:header:)``).
    func apply(_ change: Change, acknowledged: Int64?) throws -> Bool {
        let key = try keyJSON(keyIndexes.map { change.values[$0] })
        let keyText = key.textValue ?? "[]"
        var plan: DecidedRow?
        if !decided.isEmpty, let outcome = decided[keyText] {
            if let settled = decidedPlans[keyText] {
                plan = settled
            } else {
                plan = try decidedRow(change, key: key, outcome: outcome, acknowledged: acknowledged)
                decidedPlans[keyText] = .some(plan)
            }
        }
        switch plan {
        case .keepDeletion?:
            versions.append((keyText, change.version ?? 0))
            return false
        case .take?, .editAgain?:
            break
        case nil:
            if let acknowledged {
                try pending.bind([.text(incoming.name), key])
                let localSequence: Int64 = try pending.step() ? (pending.value(at: 0).integerValue ?? 0) : 0
                pending.reset()
                guard localSequence <= acknowledged else { return false }
            }
        }
        if !foreignKeyActions.isEmpty { try checkForeignKeyActions(change, key: keyText) }
        var local = change
        local.values = mapping.map { change.values[$0] }
        try writer.apply(local)
        written.insert(keyText)
        versions.append((keyText, change.version ?? 0))
        if case .editAgain(let edit)? = plan { editsAgain[keyText] = edit }
        if versions.count >= 20_000 { try flushVersions() }
        return true
    }

    /// How the decided row `change` meets the local row; `nil` when it is an ordinary hub change after all (no
    /// local edit pending anywhere, or the outcome does not say what the site's version was).
    private func decidedRow(_ change: Change, key: Value, outcome: RowOutcome, acknowledged: Int64?) throws
        -> DecidedRow?
    {
        guard let acknowledged else { return nil }
        let state = try connection.query(
            "SELECT local_seq, changed_at, changed FROM _fieldsync_rows WHERE tbl = ?1 AND pk = ?2",
            [.text(incoming.name), key]
        ).first
        guard let state, let localSequence = state[0].integerValue, localSequence > acknowledged else { return .take }
        // The row was edited again after the version the hub decided on. A decision to delete the row stands over
        // such an edit: making it again would bring the row back at the hub without anyone deciding so.
        if change.operation == .delete { return .take }
        // What the site had when the hub decided, column by column:
        guard let text = outcome.values, let members = Value.objectFromJSON(text) else { return nil }
        let recorded = Dictionary(members.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        let row = try connection.query(
            "SELECT \(SQLText.columnList(projection)) FROM \(Identifier.quoted(projection.name)) "
                + "WHERE \(SQLText.keyMatch(projection, parameter: 1))", [key]
        ).first
        guard let row else { return .keepDeletion }
        // Edited again: changed locally since the hub's last acknowledgement (the capture's mask, which starts
        // afresh once a change is acknowledged) and different from the version the hub decided on. The mask keeps
        // out a value the site took from the hub meanwhile (say, the hub's row after the rule kept it).
        let mask = state[2].integerValue ?? -1
        func changedLocally(_ name: String) -> Bool {
            guard mask != -1, let position = localColumns.firstIndex(of: name), position < 62 else { return true }
            return mask & (Int64(1) << Int64(position)) != 0
        }
        var columns: [(name: String, value: Value)] = []
        for (index, column) in projection.columns.enumerated()
        where !projection.primaryKey.contains(column.name) && changedLocally(column.name) {
            let then = recorded[column.name].map { Self.carried($0, as: column.type) }
            guard then == nil || !Self.carried(row[index], as: column.type).isSameValue(as: then!) else { continue }
            columns.append((column.name, row[index]))
        }
        guard !columns.isEmpty else { return .take }
        return .editAgain(EditAgain(key: key, columns: columns, changedAt: state[1]))
    }

    /// A value as a bundle carries it in a column of `type`, so that a local value compares equal to what the hub
    /// recorded of it: an integer in a real column is a real, a number in a textual column is its text, a boolean
    /// spelled as text is 1 or 0.
    static func carried(_ value: Value, as type: ColumnType) -> Value {
        switch value {
        case .integer(let number) where type == .real: return .real(Double(number))
        case .integer(let number) where type.isTextual: return .text(String(number))
        case .real(let number) where type.isTextual:
            if number.isNaN { return .text("NaN") }
            if number.isInfinite { return .text(number < 0 ? "-Infinity" : "Infinity") }
            return .text(number.description)
        case .text(let text) where type == .boolean:
            switch text.lowercased() {
            case "t", "true", "1": return .integer(1)
            case "f", "false", "0": return .integer(0)
            default: return value
            }
        default: return value
        }
    }

    /// Writes back the local edits that decided rows replaced, with ordinary updates the capture triggers record
    /// (call once `_fieldsync_applying` is empty), and gives each the edit time it had.
    func makeLocalEditsAgain() throws {
        for keyText in editsAgain.keys.sorted() {
            let edit = editsAgain[keyText]!
            let assignments = edit.columns.enumerated().map { "\(Identifier.quoted($1.name)) = ?\($0 + 2)" }
            try connection.run(
                "UPDATE \(Identifier.quoted(projection.name)) SET \(assignments.joined(separator: ", ")) "
                    + "WHERE \(SQLText.keyMatch(projection, parameter: 1))", [edit.key] + edit.columns.map(\.value))
            try connection.run(
                "UPDATE _fieldsync_rows SET changed_at = ?3 WHERE tbl = ?1 AND pk = ?2",
                [.text(incoming.name), edit.key, edit.changedAt])
        }
        editsAgain.removeAll()
    }
}

extension Value {
    /// The integer, if this is one.
    public var integerValue: Int64? {
        if case .integer(let number) = self { return number }
        return nil
    }
}
