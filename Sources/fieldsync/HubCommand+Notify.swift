import ArgumentParser
import FieldSyncCore
import FieldSyncNotify
import Foundation
import Logging

extension HubCommand {
    struct Notify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver due conflict notifications by email and/or to a webhook.",
            discussion: """
                Delivers the notifications queued for tables whose rule has notify on, as set in the hub's \
                fieldsync.json under "notify" ("smtp" and/or "webhook"). A notification counts as sent once every \
                configured channel accepted it; a failed one is recorded and tried again by a later run after a \
                delay (1, 2, 4 … minutes, at most 6 hours). Exits 1 if any delivery failed. Run it from cron or a \
                systemd timer, for example every 5 minutes.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Flag(name: .customLong("dry-run"), help: "List what is due and where it would go; send nothing.")
        var dryRun = false

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                try node.requireRole(.hub)
                guard let settings = node.configuration.notify, settings.smtp != nil || settings.webhook != nil else {
                    throw StoreError(
                        .invalidState,
                        "field 'notify' has no \"smtp\" or \"webhook\" settings; see docs/node-directory.md",
                        location: node.configurationPath)
                }
                try node.requirePrivateConfiguration()
                let channels = try node.notificationChannels(settings)
                let store = try node.hubEngine().store
                let now = Date().timeIntervalSince1970
                if dryRun {
                    let due = try store.dueNotifications(now: now, limit: 10_000)
                    for notification in due {
                        print("would send notification \(notification.id): \(summary(notification))")
                    }
                    let targets = channels.map(\.target).joined(separator: " and ")
                    print(
                        "\(due.count) notification\(due.count == 1 ? "" : "s") due, for \(targets); nothing sent "
                            + "(--dry-run).")
                    return
                }
                let delivery = NotificationDelivery(
                    channels: channels.map(\.channel), logger: Logger(label: "fieldsync.notify"))
                let report = try delivery.run(store: store, now: now)
                for notification in report.sent {
                    print("sent notification \(notification.id): \(summary(notification))")
                }
                for failure in report.failed {
                    let delay = ConflictNotification.retryDelay(afterAttempts: failure.notification.attempts + 1)
                    print(
                        "failed notification \(failure.notification.id): \(summary(failure.notification)): "
                            + "\(failure.error); next try in \(Int(delay / 60)) min")
                }
                print("Notifications: \(report.sent.count) sent, \(report.failed.count) failed.")
                if !report.failed.isEmpty { throw refusedExitCode }
            }
        }

        private func summary(_ notification: ConflictNotification) -> String {
            let notice = ConflictNotice(notification)
            return "conflict \(notice.conflictID.map(String.init) ?? "?") on \(notice.table) \(notice.record) "
                + "from \(notice.site) (\(notice.rule), \(notice.decision))"
        }
    }
}

extension NodeDirectory {
    /// The delivery channels of the `notify` settings, checked: each error names the file and the field.
    func notificationChannels(_ settings: NotifySettings) throws -> [(channel: any NotificationChannel, target: String)]
    {
        func refuse(_ field: String, _ message: String) -> StoreError {
            StoreError(.invalidState, "field '\(field)': \(message)", location: configurationPath)
        }
        var channels: [(channel: any NotificationChannel, target: String)] = []
        if let smtp = settings.smtp {
            guard !smtp.host.isEmpty else { throw refuse("notify.smtp.host", "is empty") }
            let port = smtp.port ?? 587
            guard (1...65535).contains(port) else { throw refuse("notify.smtp.port", "\(port) is not a port") }
            guard (smtp.username == nil) == (smtp.password == nil) else {
                throw refuse(
                    smtp.username == nil ? "notify.smtp.username" : "notify.smtp.password",
                    "username and password go together")
            }
            do {
                _ = try MailMessage.address(in: smtp.from)
            } catch let error as DeliveryError {
                throw refuse("notify.smtp.from", error.message)
            }
            guard !smtp.to.isEmpty else { throw refuse("notify.smtp.to", "names no recipient") }
            for (index, recipient) in smtp.to.enumerated() {
                do {
                    _ = try MailMessage.address(in: recipient)
                } catch let error as DeliveryError {
                    throw refuse("notify.smtp.to.\(index)", error.message)
                }
            }
            let startTLS = smtp.starttls ?? true
            if !startTLS && smtp.password != nil {
                printWarning(
                    "\(configurationPath): notify.smtp sends its password without TLS (\"starttls\": false)")
            }
            let sender = SMTPSender(
                configuration: .init(
                    host: smtp.host, port: port, startTLS: startTLS, username: smtp.username, password: smtp.password,
                    caFile: smtp.caFile.map(resolve)))
            channels.append(
                (
                    EmailChannel(
                        sender: sender, from: smtp.from, to: smtp.to, hub: configuration.id,
                        nodeDirectory: URL(fileURLWithPath: path).standardizedFileURL.path),
                    "email to \(smtp.to.joined(separator: ", ")) via \(sender.configuration.location)"
                ))
        }
        if let webhook = settings.webhook {
            let poster: WebhookPoster
            do {
                poster = WebhookPoster(
                    configuration: try WebhookPoster.Configuration(
                        url: webhook.url, headers: webhook.headers ?? [:], caFile: webhook.caFile.map(resolve)
                    ).validated())
            } catch let error as DeliveryError {
                throw refuse(
                    error.message.hasPrefix("the webhook URL") ? "notify.webhook.url" : "notify.webhook.headers",
                    error.message)
            }
            channels.append((WebhookChannel(poster: poster), "webhook \(poster.configuration.location)"))
        }
        return channels
    }
}
