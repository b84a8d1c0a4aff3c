import FieldSyncCore
import Foundation
import Logging

/// A way to deliver a conflict notification: email, a webhook.
public protocol NotificationChannel {
    /// `email` or `webhook`, for reports and recorded errors.
    var name: String { get }
    /// Delivers one notification; throws ``DeliveryError`` if it was not accepted.
    func deliver(_ notification: ConflictNotification) throws
}

/// Email through ``SMTPSender``: one message per notification, to every configured recipient.
public struct EmailChannel: NotificationChannel {
    public var sender: SMTPSender
    public var from: String
    public var to: [String]
    /// The hub's id and node directory, named in the message.
    public var hub: String
    public var nodeDirectory: String?

    public init(sender: SMTPSender, from: String, to: [String], hub: String, nodeDirectory: String?) {
        self.sender = sender
        self.from = from
        self.to = to
        self.hub = hub
        self.nodeDirectory = nodeDirectory
    }

    public var name: String { "email" }

    public func deliver(_ notification: ConflictNotification) throws {
        try sender.send(message(for: notification))
    }

    /// The message for `notification`.
    public func message(for notification: ConflictNotification, date: Date = Date()) -> MailMessage {
        let notice = ConflictNotice(notification)
        return MailMessage(
            from: from, to: to, subject: notice.subject, body: notice.body(hub: hub, nodeDirectory: nodeDirectory),
            date: date)
    }
}

/// A webhook through ``WebhookPoster``: the notification's details JSON as the request body.
public struct WebhookChannel: NotificationChannel {
    public var poster: WebhookPoster

    public init(poster: WebhookPoster) {
        self.poster = poster
    }

    public var name: String { "webhook" }

    public func deliver(_ notification: ConflictNotification) throws {
        try poster.post(json: notification.details)
    }
}

/// Delivers the hub's due conflict notifications on every channel and records each attempt in the store.
///
/// A notification counts as sent once every channel accepted it. If any channel fails, the attempt is recorded as
/// failed with the channels' errors, and the next run after ``ConflictNotification/retryDelay(afterAttempts:)``
/// tries every channel again, so a channel that had accepted it may receive it twice.
public struct NotificationDelivery {
    /// What one run did.
    public struct Report: Sendable {
        public struct Failure: Sendable {
            public var notification: ConflictNotification
            public var error: String
        }

        public var sent: [ConflictNotification] = []
        public var failed: [Failure] = []
    }

    public var channels: [any NotificationChannel]
    /// Notifications read from the store at a time.
    public var batchSize: Int
    public var logger: Logger

    public init(channels: [any NotificationChannel], batchSize: Int = 100, logger: Logger) {
        self.channels = channels
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Delivers every notification due at `now` (seconds since 1970), batch by batch, and records each attempt
    /// with ``HubStore/recordDelivery(of:error:now:)``.
    public func run(store: any HubStore, now: Double) throws -> Report {
        var report = Report()
        var seen: Set<Int64> = []
        while true {
            let batch = try store.dueNotifications(now: now, limit: batchSize).filter { !seen.contains($0.id) }
            if batch.isEmpty { break }
            for notification in batch {
                seen.insert(notification.id)
                var errors: [String] = []
                for channel in channels {
                    do {
                        try channel.deliver(notification)
                    } catch {
                        errors.append("\(channel.name): \(error)")
                    }
                }
                var metadata: Logger.Metadata = [
                    LogKey.notification: "\(notification.id)", LogKey.table: "\(notification.table)",
                    LogKey.site: "\(notification.site)",
                ]
                if errors.isEmpty {
                    try store.recordDelivery(of: notification.id, error: nil, now: now)
                    report.sent.append(notification)
                    logger.info("notification delivered", metadata: metadata)
                } else {
                    let error = errors.joined(separator: "; ")
                    try store.recordDelivery(of: notification.id, error: error, now: now)
                    report.failed.append(.init(notification: notification, error: error))
                    metadata[LogKey.error] = "\(error)"
                    logger.warning("notification delivery failed", metadata: metadata)
                }
            }
        }
        return report
    }
}

/// Metadata keys of this module's log messages.
enum LogKey {
    static let notification = "fieldsync.notification.id"
    static let table = "fieldsync.table"
    static let site = "fieldsync.site"
    static let error = "fieldsync.notification.error"
}
