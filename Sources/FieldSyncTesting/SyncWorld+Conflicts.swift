import FieldSyncCore
import FieldSyncSQLite
import FieldSyncSite
import Foundation

/// Steps and looks for conflict-rule scenarios, the same whichever store the hub runs on.
extension SyncWorld {
    /// `people (id TEXT PRIMARY KEY, name TEXT, age INTEGER, note TEXT)`, the table most conflict scenarios use.
    public static func people(_ db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, age INTEGER, note TEXT)")
    }

    /// Sets `table`'s conflict rule at the hub.
    public func setRule(
        _ table: String, _ strategy: ConflictStrategy, fallback: ConflictStrategy = .serverWins,
        mergeFields: [String]? = nil, notify: Bool = false
    ) throws {
        try hubStore.setConflictRule(
            ConflictRule(table: table, strategy: strategy, fallback: fallback, mergeFields: mergeFields, notify: notify)
        )
    }

    /// Runs `sql` in `site`'s application database, as the field application would.
    public func siteSQL(_ site: String, _ sql: String) throws {
        try self.site(site).database.execute(sql)
    }

    /// `site` writes a delta bundle and the hub ingests it.
    @discardableResult
    public func sendToHub(_ site: String) throws -> IngestReport {
        try deliverToHub(try exportSite(site))
    }

    /// The hub writes a return bundle for `site`, and the site imports it.
    @discardableResult
    public func returnToSite(_ site: String) throws -> SiteImport {
        try deliverToSite(site, try exportReturn(site))
    }

    /// The hub's live row of `table` whose first column is `key`, in the hub's column order.
    public func hubRow(_ table: String, _ key: Value) throws -> [Value]? {
        try hubRows(table).first { $0.first == key }
    }

    /// `site`'s row of `table` whose first column is `key`, in the hub's column order.
    public func siteRow(_ site: String, _ table: String, _ key: Value) throws -> [Value]? {
        try siteRows(site, table).first { $0.first == key }
    }

    /// The messages of the hub's log lines with `status` (`_fieldsync_log`, or `sync_control.sync_log`), oldest
    /// first.
    public func hubLogMessages(status: String) throws -> [String] {
        precondition(status.allSatisfy { $0.isLetter || $0 == "_" }, "a status is a plain word")
        let sql =
            switch hubKind {
            case .sqlite: "SELECT message FROM _fieldsync_log WHERE status = '\(status)' ORDER BY id"
            case .postgres:
                "SELECT coalesce(message, error_message) FROM sync_control.sync_log WHERE status = '\(status)' "
                    + "ORDER BY log_id"
            }
        return try hubSQL.query(sql).compactMap { $0.first?.textValue }
    }

    /// The status (`pending` or `resolved`) of each conflict notification at the hub, in order.
    public func notificationStatuses() throws -> [String] {
        let table =
            switch hubKind {
            case .sqlite: "_fieldsync_conflict_notifications"
            case .postgres: "sync_control.conflict_notifications"
            }
        return try hubSQL.query("SELECT status FROM \(table) ORDER BY notification_id").compactMap {
            $0.first?.textValue
        }
    }
}
