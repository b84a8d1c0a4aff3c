import FieldSyncTesting
import Foundation
import Testing

/// `fieldsync hub notify` end to end: a conflict on a table whose rule notifies, delivered by email to a real SMTP
/// server (STARTTLS, login) and to a real webhook listener, with a failure recorded and retried.
@Suite struct NotifyCommandTests {
    @Test func dueNotificationsGoByEmailAndWebhookAndFailuresAreRetried() throws {
        let network = try ConflictCommandTests.network()
        let hub = network.hubDirectory
        try network.succeed(["hub", "rules", "set", "--dir", hub, "people", "--strategy", "manual", "--notify"])
        _ = try ConflictCommandTests.makeConflict(network)

        let (mail, caFile) = try startMailServer(
            in: network.directory, tls: true, username: "hq-notify", password: "s3cret")
        let webhook = try startWebhookListener(in: network.directory, statuses: [500, 200])
        try ConflictCommandTests.editConfiguration(network) {
            $0["notify"] = [
                "smtp": [
                    "host": "127.0.0.1", "port": mail.port, "starttls": true, "username": "hq-notify",
                    "password": "s3cret", "from": "FieldSync HQ <fieldsync@hq.example.org>",
                    "to": ["ops@hq.example.org"], "ca_file": caFile ?? "",
                ],
                "webhook": [
                    "url": "http://127.0.0.1:\(webhook.port)/hooks/conflicts",
                    "headers": ["Authorization": "Bearer t0k3n"],
                ],
            ]
        }
        let configuration = "\(hub)/fieldsync.json"

        // A password in a file others can read is refused.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: configuration)
        let open = try network.fieldsync(["hub", "notify", "--dir", hub])
        #expect(open.status == 1)
        #expect(open.stderr.contains("holds a secret (notify.smtp.password)"), "\(open.stderr)")
        #expect(open.stderr.contains("chmod 600 \(configuration)"), "\(open.stderr)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configuration)

        let dry = try network.succeed(["hub", "notify", "--dir", hub, "--dry-run"])
        #expect(
            dry.stdout.contains(
                "would send notification 1: conflict 1 on people [\"a1\"] from site-a (manual, pending)"))
        #expect(dry.stdout.contains("1 notification due"), "\(dry.stdout)")
        #expect(try mail.records(ReceivedMail.self).isEmpty)
        #expect(try webhook.records(ReceivedRequest.self).isEmpty)

        // The webhook answers 500: the email went, the notification is recorded as failed and not due again yet.
        let first = try network.fieldsync(["hub", "notify", "--dir", hub])
        #expect(first.status == 1, "\(first.stdout)\(first.stderr)")
        #expect(first.stdout.contains("Notifications: 0 sent, 1 failed."), "\(first.stdout)")
        #expect(
            first.stdout.contains(
                "webhook: http://127.0.0.1:\(webhook.port)/hooks/conflicts: the webhook answered HTTP 500"))
        #expect(!first.stdout.contains("t0k3n") && !first.stdout.contains("s3cret"))
        let email = try #require(try mail.records(ReceivedMail.self).first)
        #expect(email.tls)
        #expect(email.auth?.login == "hq-notify")
        #expect(email.rcpt_tos == ["ops@hq.example.org"])
        #expect(email.subject == "FieldSync conflict 1: people [\"a1\"] from site-a (manual, pending)")
        let body = try #require(email.body)
        #expect(body.contains("  site:      site-a"))
        #expect(body.contains("fieldsync conflicts show 1 --dir "), "\(body)")
        #expect(
            try SQLiteShell.lines(
                network.hubStore,
                "SELECT attempts, delivery, last_error LIKE '%HTTP 500%' FROM _fieldsync_conflict_notifications")
                == ["1,'pending',1"])
        let early = try network.succeed(["hub", "notify", "--dir", hub])
        #expect(early.stdout.contains("Notifications: 0 sent, 0 failed."), "\(early.stdout)")

        // Once its retry time has come, it goes again on every channel, and is sent.
        try SQLiteShell.run(
            network.hubStore, "UPDATE _fieldsync_conflict_notifications SET next_attempt_at = '2000-01-01T00:00:00Z'")
        let second = try network.succeed(["hub", "notify", "--dir", hub])
        #expect(second.stdout.contains("sent notification 1: conflict 1 on people"), "\(second.stdout)")
        #expect(second.stdout.contains("Notifications: 1 sent, 0 failed."))
        let requests = try webhook.records(ReceivedRequest.self)
        #expect(requests.map(\.status) == [500, 200])
        let request = try #require(requests.last)
        #expect(request.path == "/hooks/conflicts")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["authorization"] == "Bearer t0k3n")
        let details = try #require(
            try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
        #expect(details["type"] as? String == "sync_conflict")
        #expect(details["conflict_id"] as? Int == 1)
        #expect(details["table"] as? String == "people")
        #expect(details["client"] as? String == "site-a")
        #expect(details["decision"] as? String == "pending")
        #expect(try mail.records(ReceivedMail.self).count == 2)
        #expect(
            try SQLiteShell.lines(
                network.hubStore, "SELECT delivery, sent_at IS NOT NULL FROM _fieldsync_conflict_notifications")
                == ["'sent',1"])
        let done = try network.succeed(["hub", "notify", "--dir", hub])
        #expect(done.stdout.contains("Notifications: 0 sent, 0 failed."))
    }

    @Test func notificationSettingsAreChecked() throws {
        let network = try ConflictCommandTests.network()
        let hub = network.hubDirectory
        let none = try network.fieldsync(["hub", "notify", "--dir", hub])
        #expect(none.status == 1)
        #expect(none.stderr.contains("field 'notify' has no \"smtp\" or \"webhook\" settings"), "\(none.stderr)")
        let cases: [([String: Any], String)] = [
            (["smtp": ["host": "h", "from": "not an address", "to": ["a@b.org"]]], "field 'notify.smtp.from'"),
            (["smtp": ["host": "h", "from": "a@b.org", "to": []]], "field 'notify.smtp.to': names no recipient"),
            (["smtp": ["host": "h", "from": "a@b.org", "to": ["x@y.org"], "passwrd": "p"]], "notify.smtp.passwrd"),
            (
                ["smtp": ["host": "h", "from": "a@b.org", "to": ["x@y.org"], "username": "u"]],
                "notify.smtp.password': username and password go together"
            ),
            (["webhook": ["url": "ftp://example.org/x"]], "field 'notify.webhook.url'"),
            (
                ["webhook": ["url": "http://example.org/x", "headers": ["X-A": "1\r\nX-B: 2"]]],
                "notify.webhook.headers"
            ),
        ]
        for (settings, message) in cases {
            try ConflictCommandTests.editConfiguration(network) { $0["notify"] = settings }
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o600], ofItemAtPath: "\(hub)/fieldsync.json")
            let output = try network.fieldsync(["hub", "notify", "--dir", hub, "--dry-run"])
            #expect(output.status == 1, "\(settings)")
            #expect(output.stderr.contains("\(hub)/fieldsync.json"), "\(output.stderr)")
            #expect(output.stderr.contains(message), "\(output.stderr)")
        }
    }
}
