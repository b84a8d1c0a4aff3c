import FieldSyncCore
import Foundation

/// A field site's database with FieldSync's capture installed: the application's tables, capture triggers and
/// the `_fieldsync` bookkeeping tables, all in the one SQLite file.
///
/// Triggers record every insert, update and delete made by any program into `_fieldsync_rows` (one row per
/// changed record with the site's change counter and the changed columns). Exports read the current values of
/// the records changed since the hub's last acknowledgement; imports apply the hub's changes without capturing
/// them again.
public final class SiteStore {
    public let connection: SQLiteConnection
    /// The site's node id.
    public let siteID: String

    /// Opens a database on which ``install(path:siteID:hubID:tables:)`` has run.
    ///
    /// - Throws: ``StoreError`` with `.invalidState` if the database is not a FieldSync site.
    public init(path: String) throws {
        connection = try SQLiteConnection(path: path, create: false)
        guard
            try connection.scalar(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_fieldsync_state'") != nil,
            let id = try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'site_id'")
        else {
            throw StoreError(
                .invalidState, "not a FieldSync site database; run 'fieldsync site init' first", location: path)
        }
        siteID = id
        // Bookkeeping added by newer releases appears on first use; existing tables are left alone.
        try connection.execute(Self.bookkeepingSchema)
        let missing = try Self.missingEditTimes(connection: connection)
        if missing.column || !missing.triggers.isEmpty {
            try connection.withTransaction { try Self.addEditTimes(connection: connection) }
        }
    }

    /// The tracked tables in apply order (parents before children).
    public func tables() throws -> [TableSchema] {
        try connection.query("SELECT schema_json FROM _fieldsync_tables ORDER BY position, name").map { row in
            guard case .text(let json) = row[0] else {
                throw StoreError(.schema, "damaged _fieldsync_tables row", location: connection.path)
            }
            return try JSONDecoder().decode(TableSchema.self, from: Data(json.utf8))
        }
    }

    /// A bookkeeping value from `_fieldsync_state`.
    func state(_ key: String) throws -> Value? {
        try connection.scalar("SELECT value FROM _fieldsync_state WHERE key = ?", [.text(key)])
    }

    func stateInteger(_ key: String) throws -> Int64 {
        if case .integer(let number) = try state(key) { return number }
        return 0
    }

    func setState(_ key: String, _ value: Value) throws {
        try connection.run(
            "INSERT INTO _fieldsync_state (key, value) VALUES (?, ?) "
                + "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(key), value])
    }

    /// The change counter and the highest counter the hub has acknowledged.
    func counters() throws -> (value: Int64, acknowledged: Int64) {
        let row = try connection.query("SELECT value, acked FROM _fieldsync_counter WHERE id = 1").first ?? []
        guard row.count == 2, case .integer(let value) = row[0], case .integer(let acked) = row[1] else {
            throw StoreError(.invalidState, "the _fieldsync_counter row is missing", location: connection.path)
        }
        return (value, acked)
    }

    /// Logs a bundle this site refused, with the reason; `status` shows the last one. Its own small transaction,
    /// after the import's has rolled back.
    public func logRefusal(sequence: Int64, file: String, reason: String) throws {
        let name = file.split(separator: "/").last.map(String.init) ?? file
        try log("import", sequence: sequence, rows: 0, status: "refused", message: "\(name): \(reason)")
    }

    /// Appends a line to the site's operation log.
    func log(_ operation: String, sequence: Int64, rows: Int, status: String, message: String) throws {
        try connection.run(
            "INSERT INTO _fieldsync_log (operation, sequence, rows, status, message, at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                .text(operation), .integer(sequence), .integer(Int64(rows)), .text(status), .text(message),
                .text(nowText()),
            ])
    }
}

/// What a site knows about its own sync state, for `fieldsync status`.
public struct SiteStatus: Sendable, Codable {
    public var site: String
    public var hub: String
    public var database: String
    /// Records changed locally that the hub has not acknowledged yet.
    public var pendingChanges: Int64
    public var changeCounter: Int64
    public var acknowledgedChange: Int64
    /// Highest hub version applied here.
    public var hubVersion: Int64
    public var lastExportSequence: Int64
    public var lastExportAt: String?
    public var lastImportSequence: Int64
    public var lastImportAt: String?
    /// Rows the hub kept its own version of or set aside, as reported in return bundles.
    public var outcomes: Int64
    /// Rows left out: rows that could not be exported (a value its column's type cannot carry; they stay
    /// pending), rows whose key cannot be carried (a NULL or a BLOB), hub changes set aside for a broken foreign
    /// key. Listed in `_fieldsync_problems`.
    public var problems: Int64
    public var tables: [String]
    /// Tables the hub sent changes for that this site does not track (never applied here), with how many changes.
    public var untrackedTables: [String: Int64]
    /// The last bundle this site refused, with the reason, and when (from `_fieldsync_log`).
    public var lastRefusal: String?
    public var lastRefusalAt: String?
}

extension SiteStore {
    /// The site's sync state.
    public func status() throws -> SiteStatus {
        let counters = try counters()
        let refusal = try connection.query(
            "SELECT message, at FROM _fieldsync_log WHERE status = 'refused' ORDER BY id DESC LIMIT 1"
        ).first
        return SiteStatus(
            site: siteID,
            hub: try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'hub_id'") ?? "",
            database: connection.path,
            pendingChanges: try connection.integer(
                "SELECT count(*) FROM _fieldsync_rows WHERE local_seq > ? AND local_seq > 0",
                [.integer(counters.acknowledged)]),
            changeCounter: counters.value, acknowledgedChange: counters.acknowledged,
            hubVersion: try stateInteger("hub_version"),
            lastExportSequence: try stateInteger("last_export_sequence"),
            lastExportAt: try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'last_export_at'"),
            lastImportSequence: try stateInteger("last_return_sequence"),
            lastImportAt: try connection.text("SELECT value FROM _fieldsync_state WHERE key = 'last_import_at'"),
            outcomes: try connection.integer("SELECT count(*) FROM _fieldsync_outcomes"),
            problems: try connection.integer("SELECT count(*) FROM _fieldsync_problems"),
            tables: try tables().map(\.name),
            untrackedTables: Dictionary(
                try connection.query("SELECT tbl, changes FROM _fieldsync_untracked").map {
                    ($0[0].textValue ?? "", $0[1].integerValue ?? 0)
                }
            ) { first, _ in first },
            lastRefusal: refusal?[0].textValue, lastRefusalAt: refusal?[1].textValue)
    }
}
