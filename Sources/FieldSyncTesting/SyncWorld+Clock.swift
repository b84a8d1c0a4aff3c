import FieldSyncCore

/// Sites whose clocks are wrong, for tests of the hub's clock correction and of `last_write_wins`.
extension SyncWorld {
    /// Makes every later export of `site` behave as if its clock were off by `offset` seconds (positive: ahead).
    ///
    /// The bundle's `created` is the site's clock now plus `offset`, and every edit time it carries
    /// (`changed_at`) is the one the capture recorded plus `offset`: the bundle a site whose clock was that far off
    /// when the edits were made and when it exported would write. The shift is applied as the bundle is written,
    /// not stored, so a change that travels in several bundles (a lost bundle, a late acknowledgement) is shifted
    /// once in each, never twice. `offset` 0 sets the clock right again.
    public func setSiteClock(_ site: String, offset seconds: Double) {
        self.site(site).engine.clockOffset = seconds
    }

    /// The edit times the capture recorded at `site` for the records of `table` (primary key JSON to
    /// `changed_at`, NULL when unknown), as the site's own clock stated them.
    public func siteEditTimes(_ site: String, _ table: String) throws -> [String: Value] {
        let rows = try self.site(site).database.query(
            "SELECT pk, changed_at FROM _fieldsync_rows WHERE tbl = ? ORDER BY pk", [.text(table)])
        var times: [String: Value] = [:]
        for row in rows {
            if case .text(let key) = row[0] { times[key] = row[1] }
        }
        return times
    }
}
