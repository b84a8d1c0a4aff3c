import CSQLite

extension SQLiteConnection {
    /// Whether the open transaction has foreign-key violations that a commit would refuse
    /// (`sqlite3_db_status(SQLITE_DBSTATUS_DEFERRED_FKS)`).
    ///
    /// Only violations made in this transaction count: rows that broke a foreign key before it (written while
    /// `PRAGMA foreign_keys` was off, as SQLite's default is) do not.
    var hasUnresolvedForeignKeys: Bool {
        var current: Int32 = 0
        var highest: Int32 = 0
        guard sqlite3_db_status(handle, SQLITE_DBSTATUS_DEFERRED_FKS, &current, &highest, 0) == SQLITE_OK else {
            return true
        }
        return current != 0
    }
}
