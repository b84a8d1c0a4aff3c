import FieldSyncCore

extension PostgresHubStore {
    private func notYet() -> StoreError { StoreError(.invalidState, "conflict rules are not available yet") }
    public func conflictRules() throws -> [ConflictRule] { throw notYet() }
    public func setConflictRule(_ rule: ConflictRule) throws { throw notYet() }
    public func conflicts(_ filter: ConflictFilter) throws -> [ConflictRecord] { throw notYet() }
    public func conflict(id: Int64) throws -> ConflictRecord { throw notYet() }
    public func resolveConflict(_ resolution: ConflictResolution) throws -> ConflictRecord { throw notYet() }
    public func rejectedRows(site: String?, table: String?, includeApplied: Bool) throws -> [RejectedRecord] {
        throw notYet()
    }
    public func retryRejected(id: Int64) throws -> RetryResult { throw notYet() }
    public func dueNotifications(now: Double, limit: Int) throws -> [ConflictNotification] { throw notYet() }
    public func recordDelivery(of notification: Int64, error: String?, now: Double) throws { throw notYet() }
}
