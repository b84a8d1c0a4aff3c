import FieldSyncCore
import Foundation

extension PostgresHubStore {
    /// Notifications (`sync_control.conflict_notifications`) not yet delivered and due at `now`, oldest first.
    public func dueNotifications(now: Double, limit: Int) throws -> [ConflictNotification] {
        try connection.query(
            "SELECT notification_id, table_name, record_id, client_id, details::text, created_at, attempts "
                + "FROM sync_control.conflict_notifications WHERE delivery = 'pending' "
                + "AND (next_attempt_at IS NULL OR next_attempt_at <= to_timestamp($1::double precision)) "
                + "ORDER BY created_at, notification_id LIMIT $2", [String(now), String(max(limit, 0))]
        ).rows.map { row in
            ConflictNotification(
                id: Int64(row[0] ?? "") ?? 0, table: row[1] ?? "", recordID: row[2] ?? "", site: row[3] ?? "",
                details: row[4] ?? "{}", createdAt: Self.rfc3339(row[5]) ?? "", attempts: Int(row[6] ?? "") ?? 0)
        }
    }

    /// Records a delivery attempt: `sent` with `sent_at`, or a failure with `last_error`, one more attempt and the
    /// next try after ``ConflictNotification/retryDelay(afterAttempts:)``.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for an unknown notification.
    public func recordDelivery(of notification: Int64, error: String?, now: Double) throws {
        try connection.withTransaction {
            guard
                let attempts = try connection.scalar(
                    "SELECT attempts FROM sync_control.conflict_notifications WHERE notification_id = $1 FOR UPDATE",
                    [String(notification)]
                ).flatMap({ Int($0) })
            else {
                throw StoreError(
                    .notFound, "there is no notification \(notification)", location: connection.location)
            }
            if let error {
                let next = now + ConflictNotification.retryDelay(afterAttempts: attempts + 1)
                try connection.run(
                    "UPDATE sync_control.conflict_notifications SET attempts = attempts + 1, last_error = $2, "
                        + "next_attempt_at = to_timestamp($3::double precision) WHERE notification_id = $1",
                    [String(notification), error, String(next)])
            } else {
                try connection.run(
                    "UPDATE sync_control.conflict_notifications SET delivery = 'sent', "
                        + "sent_at = to_timestamp($2::double precision) WHERE notification_id = $1",
                    [String(notification), String(now)])
            }
        }
    }
}
