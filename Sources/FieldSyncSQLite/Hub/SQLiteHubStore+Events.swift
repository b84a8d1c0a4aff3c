import FieldSyncCore

extension SQLiteHubStore {
    /// Appends a line to `_fieldsync_log` for an event outside an ingest or an export (no rows, no duration).
    public func logEvent(site: String?, operation: String, status: String, message: String) throws {
        try log(site: site, operation: operation, rows: 0, milliseconds: 0, status: status, message: message)
    }
}
