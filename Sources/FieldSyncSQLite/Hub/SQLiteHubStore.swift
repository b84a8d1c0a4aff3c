import FieldSyncCore
import Foundation

/// The embedded hub store: synced tables and FieldSync's bookkeeping in one SQLite file.
///
/// Every synced table gets four columns, as on the PostgreSQL hub: `sync_version` (stamped from the hub's version
/// counter by triggers on every insert and every update that changes a value), `sync_modified_at`, `sync_deleted`
/// (deletes become tombstones, including a `DELETE` typed by staff in the `sqlite3` shell) and
/// `sync_origin_client` (the site whose change made the version; NULL for changes made at the hub).
public final class SQLiteHubStore: HubStore {
    public let connection: SQLiteConnection
    public let hubID: String

    /// Opens an existing hub store.
    public init(path: String) throws {
        connection = try SQLiteConnection(path: path, create: false)
        guard
            try connection.scalar(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_fieldsync_hub'") != nil,
            let id = try connection.text("SELECT value FROM _fieldsync_hub WHERE key = 'hub_id'")
        else {
            throw StoreError(.invalidState, "not a FieldSync hub store; run 'fieldsync hub init' first", location: path)
        }
        hubID = id
        // Bookkeeping added by newer releases appears on first use; existing tables are left alone.
        try connection.execute(Self.bookkeepingSchema)
        try addColumnIfMissing("_fieldsync_rejected", "correct", "INTEGER NOT NULL DEFAULT 1")
        for (column, definition) in Self.addedConflictColumns {
            try addColumnIfMissing("_fieldsync_conflicts", column, definition)
        }
        for (column, definition) in Self.addedRejectedColumns {
            try addColumnIfMissing("_fieldsync_rejected", column, definition)
        }
        try addSentVersionIfMissing()
    }

    /// Adds `_fieldsync_sites.sent_version` (the highest hub version a return bundle written for the site may
    /// carry) to a store made by an earlier release. Which versions those bundles carried was not kept, so a site
    /// that was sent any return bundle starts at the hub's current version: never below what it can know.
    private func addSentVersionIfMissing() throws {
        let present = try connection.query("SELECT name FROM pragma_table_info('_fieldsync_sites')")
            .contains { $0.first?.textValue == "sent_version" }
        guard !present else { return }
        try connection.withTransaction {
            try connection.execute("ALTER TABLE _fieldsync_sites ADD COLUMN sent_version INTEGER NOT NULL DEFAULT 0")
            try connection.run(
                "UPDATE _fieldsync_sites SET sent_version = (SELECT version FROM _fieldsync_counter WHERE id = 1) "
                    + "WHERE last_return_sequence > 0")
        }
    }

    /// Columns of `_fieldsync_conflicts` that stores made by earlier releases lack.
    static let addedConflictColumns = [
        ("base_row", "TEXT"), ("contested", "TEXT NOT NULL DEFAULT '[]'"), ("site_time", "TEXT"),
        ("hub_time", "TEXT"), ("resolved_at", "TEXT"), ("resolution", "TEXT"),
        ("resolved_return_sequence", "INTEGER"),
    ]

    /// Columns of `_fieldsync_rejected` that stores made by earlier releases lack.
    static let addedRejectedColumns = [
        ("base_version", "INTEGER NOT NULL DEFAULT 0"), ("changed", "TEXT"),
        ("status", "TEXT NOT NULL DEFAULT 'set_aside'"), ("retried_at", "TEXT"),
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ]

    /// Adds a bookkeeping column that an older store lacks.
    private func addColumnIfMissing(_ table: String, _ column: String, _ definition: String) throws {
        let present = try connection.query("SELECT name FROM pragma_table_info(?)", [.text(table)])
            .contains { $0.first?.textValue == column }
        if !present {
            try connection.execute("ALTER TABLE \(Identifier.quoted(table)) ADD COLUMN \(column) \(definition)")
        }
    }

    /// Creates the bookkeeping of a hub store at `path` (the file may hold tables already). Harmless to repeat.
    @discardableResult
    public static func create(path: String, hubID: String) throws -> SQLiteHubStore {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.withTransaction {
            try connection.execute(bookkeepingSchema)
            if let existing = try connection.text("SELECT value FROM _fieldsync_hub WHERE key = 'hub_id'"),
                existing != hubID
            {
                throw StoreError(
                    .invalidState, "this store belongs to hub '\(existing)', not '\(hubID)'", location: path)
            }
            try connection.run(
                "INSERT INTO _fieldsync_hub (key, value) VALUES ('hub_id', ?) ON CONFLICT (key) DO NOTHING",
                [.text(hubID)])
        }
        return try SQLiteHubStore(path: path)
    }

    static let bookkeepingSchema = """
        CREATE TABLE IF NOT EXISTS _fieldsync_hub (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_counter (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
        INSERT INTO _fieldsync_counter (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS _fieldsync_applying (origin TEXT);
        CREATE TABLE IF NOT EXISTS _fieldsync_tables (
            name TEXT PRIMARY KEY, schema_json TEXT NOT NULL, position INTEGER NOT NULL,
            direction TEXT NOT NULL DEFAULT 'bidirectional') WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_sites (
            site_id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL, registered_at TEXT NOT NULL,
            last_sequence INTEGER NOT NULL DEFAULT 0, last_bundle TEXT, applied_through INTEGER NOT NULL DEFAULT 0,
            acked_hub_version INTEGER NOT NULL DEFAULT 0, acked_return INTEGER NOT NULL DEFAULT 0,
            last_received_at TEXT, last_return_sequence INTEGER NOT NULL DEFAULT 0, last_return_at TEXT,
            sent_version INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_bundles (
            bundle_id TEXT PRIMARY KEY, site_id TEXT NOT NULL, sequence INTEGER NOT NULL, direction TEXT NOT NULL,
            status TEXT NOT NULL, rows INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0, at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_conflicts (
            id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL,
            origin_seq INTEGER NOT NULL, bundle_id TEXT NOT NULL, base_version INTEGER NOT NULL,
            hub_version INTEGER NOT NULL, hub_origin TEXT, incoming TEXT NOT NULL, hub_row TEXT NOT NULL,
            rule TEXT NOT NULL, decision TEXT NOT NULL, created_at TEXT NOT NULL, return_sequence INTEGER,
            base_row TEXT, contested TEXT NOT NULL DEFAULT '[]', site_time TEXT, hub_time TEXT, resolved_at TEXT,
            resolution TEXT, resolved_return_sequence INTEGER);
        CREATE INDEX IF NOT EXISTS _fieldsync_conflicts_site ON _fieldsync_conflicts (site_id, return_sequence);
        CREATE INDEX IF NOT EXISTS _fieldsync_conflicts_row ON _fieldsync_conflicts (site_id, tbl, pk);
        CREATE TABLE IF NOT EXISTS _fieldsync_rejected (
            id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL,
            origin_seq INTEGER NOT NULL, bundle_id TEXT NOT NULL, reason TEXT NOT NULL, incoming TEXT NOT NULL,
            created_at TEXT NOT NULL, return_sequence INTEGER, correct INTEGER NOT NULL DEFAULT 1,
            base_version INTEGER NOT NULL DEFAULT 0, changed TEXT, status TEXT NOT NULL DEFAULT 'set_aside',
            retried_at TEXT, attempts INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS _fieldsync_rejected_site ON _fieldsync_rejected (site_id, return_sequence);
        CREATE TABLE IF NOT EXISTS _fieldsync_resend (
            id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL,
            created_at TEXT NOT NULL, return_sequence INTEGER);
        CREATE INDEX IF NOT EXISTS _fieldsync_resend_site ON _fieldsync_resend (site_id, return_sequence);
        CREATE TABLE IF NOT EXISTS _fieldsync_conflict_rules (
            table_name TEXT PRIMARY KEY, detection_method TEXT NOT NULL DEFAULT 'version_compare',
            resolution_strategy TEXT NOT NULL DEFAULT 'server_wins', priority_field TEXT, merge_fields TEXT,
            notify_on_conflict INTEGER NOT NULL DEFAULT 0, merge_fallback TEXT NOT NULL DEFAULT 'server_wins')
            WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _fieldsync_conflict_notifications (
            notification_id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, record_id TEXT NOT NULL,
            client_id TEXT NOT NULL, details TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL, resolved_at TEXT, delivery TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_error TEXT, sent_at TEXT,
            conflict_id INTEGER);
        CREATE INDEX IF NOT EXISTS _fieldsync_conflict_notifications_due
            ON _fieldsync_conflict_notifications (delivery, next_attempt_at);
        CREATE INDEX IF NOT EXISTS _fieldsync_conflict_notifications_conflict
            ON _fieldsync_conflict_notifications (conflict_id);
        CREATE TABLE IF NOT EXISTS _fieldsync_refusals (
            id INTEGER PRIMARY KEY, site_id TEXT, verified INTEGER NOT NULL, bundle_id TEXT, source TEXT NOT NULL,
            reason TEXT NOT NULL, refused_at TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS _fieldsync_refusals_site ON _fieldsync_refusals (site_id, id);
        CREATE TABLE IF NOT EXISTS _fieldsync_log (
            id INTEGER PRIMARY KEY, site_id TEXT, operation TEXT NOT NULL, table_name TEXT, rows INTEGER,
            duration_ms INTEGER, status TEXT NOT NULL, message TEXT, created_at TEXT NOT NULL);
        """

    /// The four columns every synced table carries on the hub.
    static let syncColumns = Identifier.hubBookkeepingColumns

    // MARK: Sites

    public func registerSite(id: String, name: String, publicKey: String) throws {
        try connection.run(
            "INSERT INTO _fieldsync_sites (site_id, name, public_key, registered_at) VALUES (?, ?, ?, ?) "
                + "ON CONFLICT (site_id) DO UPDATE SET name = excluded.name, public_key = excluded.public_key",
            [.text(id), .text(name), .text(publicKey), .text(nowText())])
    }

    public func publicKey(ofSite id: String) throws -> String? {
        try connection.text("SELECT public_key FROM _fieldsync_sites WHERE site_id = ?", [.text(id)])
    }

    public func sites() throws -> [SiteRecord] {
        let tables = try tables()
        return try connection.query(
            "SELECT site_id, name, public_key, registered_at, last_sequence, applied_through, last_received_at, "
                + "last_return_sequence, last_return_at, acked_hub_version FROM _fieldsync_sites ORDER BY site_id"
        ).map { row in
            let id = row[0].textValue ?? ""
            let acked = row[9].integerValue ?? 0
            var pending: Int64 = 0
            for table in tables {
                pending += try connection.integer(
                    "SELECT count(*) FROM \(Identifier.quoted(table.name)) WHERE sync_version > ? "
                        + "AND (sync_origin_client IS NULL OR sync_origin_client <> ?)", [.integer(acked), .text(id)])
            }
            return SiteRecord(
                id: id, name: row[1].textValue ?? "", publicKey: row[2].textValue ?? "",
                registeredAt: row[3].textValue ?? "", lastSequence: row[4].integerValue ?? 0,
                appliedThrough: row[5].integerValue ?? 0, lastReceivedAt: row[6].textValue,
                lastReturnSequence: row[7].integerValue ?? 0, lastReturnAt: row[8].textValue,
                ackedHubVersion: acked, pendingRows: pending,
                conflicts: try connection.integer(
                    "SELECT count(*) FROM _fieldsync_conflicts WHERE site_id = ?", [.text(id)]),
                rejected: try connection.integer(
                    "SELECT count(*) FROM _fieldsync_rejected WHERE site_id = ?", [.text(id)]),
                waitingConflicts: try connection.integer(
                    "SELECT count(*) FROM _fieldsync_conflicts WHERE site_id = ? AND decision = 'pending'",
                    [.text(id)]))
        }
    }

    // MARK: Tables

    /// The synced tables in apply order. A table registered under a name FieldSync keeps for itself (by a release
    /// that did not refuse one) is left out: it is never synced, whatever its registration says.
    public func tables() throws -> [TableSchema] {
        try connection.query("SELECT name, schema_json FROM _fieldsync_tables ORDER BY position, name").compactMap {
            row in
            guard Identifier.reservedTableReason(row[0].textValue ?? "") == nil else { return nil }
            return try JSONDecoder().decode(TableSchema.self, from: Data((row[1].textValue ?? "").utf8))
        }
    }

    @discardableResult
    public func addTable(name: String, schema: TableSchema?) throws -> TableSchema {
        try TableSchema.checkSyncableName(name)
        if let schema {
            try schema.validate()
            try schema.checkSyncable()
        }
        return try connection.withTransaction {
            let exists = try SQLiteSchema.tableNames(in: connection).contains(name)
            let table: TableSchema
            if let schema {
                guard schema.name == name else {
                    throw StoreError(.schema, "schema is for table '\(schema.name)', not '\(name)'")
                }
                if !exists { try connection.execute(Self.createStatement(for: schema)) }
                table = schema
            } else {
                guard exists else {
                    throw StoreError(
                        .schema,
                        "table '\(name)' does not exist in the hub store; give its columns "
                            + "(--column NAME:TYPE … --primary-key …) or create it first", location: connection.path)
                }
                let read = try SQLiteSchema.read(table: name, from: connection)
                table = try TableSchema(
                    name: name, columns: read.columns.filter { !Self.syncColumns.contains($0.name) },
                    primaryKey: read.primaryKey)
            }
            try table.validate()
            try table.checkSyncable()
            let present = try SQLiteSchema.read(table: name, from: connection).columns.map(\.name)
            for column in table.columns where !present.contains(column.name) {
                throw StoreError(
                    .schema, "table '\(name)' in the hub store has no column '\(column.name)'",
                    location: connection.path)
            }
            let additions = [
                "sync_version": "INTEGER NOT NULL DEFAULT 0", "sync_modified_at": "TEXT",
                "sync_deleted": "INTEGER NOT NULL DEFAULT 0", "sync_origin_client": "TEXT",
            ]
            for column in Self.syncColumns where !present.contains(column) {
                try connection.execute(
                    "ALTER TABLE \(Identifier.quoted(name)) ADD COLUMN \(column) \(additions[column]!)")
            }
            try connection.execute(
                "CREATE INDEX IF NOT EXISTS \(Identifier.quoted("\(name)_sync_version")) "
                    + "ON \(Identifier.quoted(name)) (sync_version)")
            // Triggers are made anew, so that re-running add-table after a column was added covers the new column.
            try installVersionTriggers(for: table)
            // A synced table this one references now guards its deletes against this table's rows too.
            let synced = try tables()
            for parent in try referencedTables(by: name) where parent.lowercased() != name.lowercased() {
                if let schema = synced.first(where: { $0.name.lowercased() == parent.lowercased() }) {
                    try installVersionTriggers(for: schema)
                }
            }
            // A column added since the rule became field_merge needs its place in the history table too.
            if try rule(for: name).strategy == .fieldMerge { try installHistory(for: table) }
            // Rows already in the table are synced too: they all take the next version.
            if try connection.integer(
                "SELECT count(*) FROM \(Identifier.quoted(name)) WHERE sync_version = 0") > 0
            {
                try connection.run("UPDATE _fieldsync_counter SET version = version + 1 WHERE id = 1")
                try connection.run(
                    "UPDATE \(Identifier.quoted(name)) SET sync_version = (SELECT version FROM _fieldsync_counter "
                        + "WHERE id = 1), sync_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE sync_version = 0"
                )
            }
            let json = String(decoding: try JSONEncoder().encode(table), as: UTF8.self)
            let position = try connection.integer(
                "SELECT count(*) FROM _fieldsync_tables WHERE name <> ?", [.text(name)])
            try connection.run(
                "INSERT INTO _fieldsync_tables (name, schema_json, position) VALUES (?, ?, ?) "
                    + "ON CONFLICT (name) DO UPDATE SET schema_json = excluded.schema_json",
                [.text(name), .text(json), .integer(position)])
            return table
        }
    }

    /// `CREATE TABLE` for a synced table with its sync columns.
    static func createStatement(for schema: TableSchema) -> String {
        var parts = schema.columns.map { column in
            var text = Identifier.quoted(column.name)
            let declared = SQLiteSchema.declaredType(for: column.type)
            if !declared.isEmpty { text += " \(declared)" }
            // A key column is NOT NULL, as PostgreSQL makes it: SQLite would take a NULL key otherwise.
            if !column.nullable || schema.primaryKey.contains(column.name) { text += " NOT NULL" }
            return text
        }
        parts += [
            "sync_version INTEGER NOT NULL DEFAULT 0", "sync_modified_at TEXT",
            "sync_deleted INTEGER NOT NULL DEFAULT 0", "sync_origin_client TEXT",
            "PRIMARY KEY (\(schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")))",
        ]
        return "CREATE TABLE \(Identifier.quoted(schema.name)) (\(parts.joined(separator: ", ")))"
    }

    /// Drops and makes again the version triggers of a synced table, with the references to it found now.
    func installVersionTriggers(for table: TableSchema) throws {
        for suffix in ["insert", "update", "delete"] {
            try connection.execute("DROP TRIGGER IF EXISTS \(Identifier.quoted("_fieldsync_\(table.name)_\(suffix)"))")
        }
        try connection.execute(Self.versionTriggers(for: table, references: try references(to: table)))
    }

    /// The tables that `table`'s foreign keys point at.
    func referencedTables(by table: String) throws -> [String] {
        try connection.query("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)", [.text(table)])
            .compactMap { $0.first?.textValue }
    }

    /// The foreign keys declared in the hub store that point at `parent`: the rows a delete of a parent row must
    /// not leave behind.
    func references(to parent: TableSchema) throws -> [ForeignKeyReference] {
        let rows = try connection.query(
            "SELECT m.name, f.id, f.\"from\", f.\"to\" FROM sqlite_schema m, pragma_foreign_key_list(m.name) f "
                + "WHERE m.type = 'table' AND lower(f.\"table\") = lower(?) ORDER BY m.name, f.id, f.seq",
            [.text(parent.name)])
        var references: [ForeignKeyReference] = []
        for row in rows {
            guard let child = row[0].textValue, let id = row[1].integerValue, let from = row[2].textValue else {
                continue
            }
            if references.last?.child != child || references.last?.id != id {
                let synced = try connection.query("SELECT name FROM pragma_table_info(?)", [.text(child)])
                    .contains { $0.first?.textValue == "sync_deleted" }
                references.append(ForeignKeyReference(child: child, id: id, synced: synced, pairs: []))
            }
            let position = references[references.count - 1].pairs.count
            // A key that names no parent columns points at the parent's primary key, in order.
            let to = row[3].textValue ?? (position < parent.primaryKey.count ? parent.primaryKey[position] : from)
            references[references.count - 1].pairs.append((from, to))
        }
        return references
    }

    /// Triggers that stamp versions on changes made at the hub itself (HQ staff, other programs): on insert, on an
    /// update that changes a value or the tombstone flag, and a `DELETE` turned into a tombstone. A key change
    /// leaves a tombstone for the old key. While FieldSync ingests a bundle (`_fieldsync_applying` has a row) the
    /// ingest stamps rows itself, with the origin site.
    ///
    /// The `DELETE` trigger refuses, naming both tables, to delete a row that rows of another table still reference
    /// through a foreign key declared in the hub store (`references`): the delete becomes a tombstone, which SQLite's
    /// own foreign-key check never sees, and the sites whose copies of those rows refer to the row would refuse it.
    static func versionTriggers(for schema: TableSchema, references: [ForeignKeyReference] = []) -> String {
        let table = Identifier.quoted(schema.name)
        let prefix = "_fieldsync_\(schema.name)"
        let newKeyMatch = schema.primaryKey.map { "\(Identifier.quoted($0)) = NEW.\(Identifier.quoted($0))" }
            .joined(separator: " AND ")
        let oldKeyMatch = schema.primaryKey.map { "\(Identifier.quoted($0)) = OLD.\(Identifier.quoted($0))" }
            .joined(separator: " AND ")
        let keyChanged = SQLText.anyChanged(schema.primaryKey)
        // SQLite lets a key column that is not declared NOT NULL hold NULL; such a row could never be stamped, sent
        // or found again, so a write of one at the hub is refused with the table's name.
        let nullKey = schema.primaryKey.map { "NEW.\(Identifier.quoted($0)) IS NULL" }.joined(separator: " OR ")
        let nullKeyMessage =
            "table \(schema.name): a synced row needs a value in every primary-key column "
            + "(\(schema.primaryKey.joined(separator: ", "))); FieldSync cannot sync a row with a NULL key"
        let stamp = """
            SELECT RAISE(ABORT, \(SQLText.literal(nullKeyMessage))) WHERE \(nullKey);
                UPDATE _fieldsync_counter SET version = version + 1 WHERE id = 1;
                UPDATE \(table) SET sync_version = (SELECT version FROM _fieldsync_counter WHERE id = 1),
                    sync_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                    sync_origin_client = NULL
                WHERE \(newKeyMatch);
            """
        let dataColumns = schema.columns.map(\.name) + ["sync_deleted"]
        let notApplying = "NOT EXISTS (SELECT 1 FROM _fieldsync_applying)"
        let columnList = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let oldValues = schema.columns.map { "OLD.\(Identifier.quoted($0.name))" }.joined(separator: ", ")
        return """
            CREATE TRIGGER \(Identifier.quoted(prefix + "_insert")) AFTER INSERT ON \(table)
            WHEN \(notApplying) BEGIN
                \(stamp)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_update"))
            AFTER UPDATE OF \(dataColumns.map(Identifier.quoted).joined(separator: ", ")) ON \(table)
            WHEN \(notApplying) AND (\(SQLText.anyChanged(dataColumns))) BEGIN
                INSERT INTO \(table) (\(columnList), sync_deleted) SELECT \(oldValues), 1 WHERE \(keyChanged)
                    ON CONFLICT DO NOTHING;
                \(stamp)
            END;
            CREATE TRIGGER \(Identifier.quoted(prefix + "_delete")) BEFORE DELETE ON \(table) BEGIN
                \(references.map { $0.refusal(parent: schema.name) }.joined(separator: "\n    "))
                UPDATE \(table) SET sync_deleted = 1 WHERE \(oldKeyMatch);
                SELECT RAISE(IGNORE);
            END;
            """
    }

    // MARK: Refused bundles

    public func logRefusal(_ refusal: BundleRefusal) throws {
        try connection.withTransaction {
            let now = nowText()
            try connection.run(
                "INSERT INTO _fieldsync_refusals (site_id, verified, bundle_id, source, reason, refused_at) "
                    + "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    refusal.site.map(Value.text) ?? .null, .integer(refusal.verified ? 1 : 0),
                    refusal.bundleID.map(Value.text) ?? .null, .text(refusal.source), .text(refusal.reason),
                    .text(now),
                ])
            try log(
                site: refusal.site, operation: "ingest", rows: 0, milliseconds: 0, status: BundleRefusal.logStatus,
                message: refusal.logMessage)
        }
    }

    public func lastRefusals() throws -> [BundleRefusal] {
        try connection.query(
            "SELECT site_id, verified, bundle_id, source, reason, refused_at FROM _fieldsync_refusals "
                + "WHERE id IN (SELECT max(id) FROM _fieldsync_refusals GROUP BY site_id) ORDER BY site_id"
        ).map { row in
            BundleRefusal(
                site: row[0].textValue, verified: row[1].integerValue == 1, bundleID: row[2].textValue,
                source: row[3].textValue ?? "", reason: row[4].textValue ?? "", at: row[5].textValue)
        }
    }

    public func danglingReferences(limit: Int) throws -> [DanglingReference] {
        var found: [DanglingReference] = []
        for parent in try tables() {
            for reference in try references(to: parent) where found.count < limit {
                let match = reference.pairs.map { "c.\(Identifier.quoted($0.from)) = p.\(Identifier.quoted($0.to))" }
                    .joined(separator: " AND ")
                let keys = parent.primaryKey.map { "p.\(Identifier.quoted($0))" }.joined(separator: ", ")
                let rows = try connection.query(
                    "SELECT \(SQLText.keyJSON(parent, prefix: "p")), count(*) FROM \(Identifier.quoted(parent.name)) p "
                        + "JOIN \(Identifier.quoted(reference.child)) c ON \(match) WHERE p.sync_deleted = 1"
                        + (reference.synced ? " AND c.sync_deleted = 0" : "") + " GROUP BY \(keys) LIMIT ?",
                    [.integer(Int64(limit - found.count))])
                for row in rows {
                    found.append(
                        DanglingReference(
                            table: parent.name, key: row[0].textValue ?? "[]", child: reference.child,
                            rows: row[1].integerValue ?? 0))
                }
            }
        }
        return found
    }

    /// Appends a line to `_fieldsync_log` (the hub's `sync_log`).
    func log(site: String?, operation: String, rows: Int, milliseconds: Int, status: String, message: String) throws {
        try connection.run(
            "INSERT INTO _fieldsync_log (site_id, operation, rows, duration_ms, status, message, created_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                site.map(Value.text) ?? .null, .text(operation), .integer(Int64(rows)), .integer(Int64(milliseconds)),
                .text(status), .text(message), .text(nowText()),
            ])
    }
}

extension Value {
    /// The text, if this is text.
    public var textValue: String? {
        if case .text(let text) = self { return text }
        return nil
    }
}

/// A foreign key of a table in the hub store that points at a synced table.
struct ForeignKeyReference {
    /// The referencing table.
    var child: String
    /// SQLite's number of the foreign key within the child table.
    var id: Int64
    /// Whether the child is a synced table (its deleted rows are tombstones, which no longer reference anything).
    var synced: Bool
    /// (child column, parent column) pairs.
    var pairs: [(from: String, to: String)]

    /// The trigger statement that refuses to delete a parent row this reference still holds.
    func refusal(parent: String) -> String {
        let match = pairs.map { "\(Identifier.quoted($0.from)) = OLD.\(Identifier.quoted($0.to))" }
            .joined(separator: " AND ")
        let columns = pairs.map(\.from).joined(separator: ", ")
        let message =
            "a row of table \(parent) is still referenced by rows of table \(child) (\(columns)): "
            + "delete or change those rows first; the sites that hold them would refuse the delete"
        return "SELECT RAISE(ABORT, \(SQLText.literal(message))) WHERE EXISTS (SELECT 1 FROM "
            + "\(Identifier.quoted(child)) WHERE \(match)\(synced ? " AND sync_deleted = 0" : ""));"
    }
}
