import FieldSyncCore
import FieldSyncNotify
import FieldSyncTesting
import Foundation
import Testing

/// Email and webhook delivery through libcurl, against a real SMTP server (aiosmtpd, with STARTTLS and AUTH) and a
/// real HTTP listener, both on 127.0.0.1.
@Suite struct NotifyDeliveryTests {
    static let notification = ConflictNotification(
        id: 4, table: "beneficiaries", recordID: "[\"b1\"]", site: "site-nairobi",
        details: """
            {"type":"sync_conflict","conflict_id":7,"table":"beneficiaries","record_id":["b1"],\
            "client":"site-nairobi","rule":"manual","decision":"pending","server_version":12,"client_version":9,\
            "bundle_id":"f00d","timestamp":"2025-03-01T10:00:00Z"}
            """, createdAt: "2025-03-01T10:00:00Z", attempts: 0)

    static func channel(port: Int, caFile: String?, startTLS: Bool = true, password: String = "s3cret")
        -> EmailChannel
    {
        EmailChannel(
            sender: SMTPSender(
                configuration: .init(
                    host: "127.0.0.1", port: port, startTLS: startTLS, username: "hq-notify", password: password,
                    caFile: caFile, connectTimeout: 5, timeout: 20)),
            from: "FieldSync HQ <fieldsync@hq.example.org>", to: ["ops@hq.example.org", "Desk <desk@hq.example.org>"],
            hub: "hq", nodeDirectory: "/srv/hq")
    }

    @Test(arguments: ["PLAIN", "LOGIN"])
    func anEmailGoesOverSTARTTLSWithTheLoginTheServerOffers(mechanism: String) throws {
        let directory = try TemporaryDirectory()
        let (server, caFile) = try startMailServer(
            in: directory, tls: true, username: "hq-notify", password: "s3cret", mechanisms: mechanism)
        try Self.channel(port: server.port, caFile: caFile).deliver(Self.notification)

        let mail = try #require(try server.records(ReceivedMail.self).first)
        #expect(mail.tls)
        #expect(mail.auth?.login == "hq-notify")
        #expect(mail.auth?.mechanism == mechanism)
        #expect(mail.mail_from == "fieldsync@hq.example.org")
        #expect(mail.rcpt_tos == ["ops@hq.example.org", "desk@hq.example.org"])
        #expect(mail.subject == "FieldSync conflict 7: beneficiaries [\"b1\"] from site-nairobi (manual, pending)")
        #expect(mail.from == "FieldSync HQ <fieldsync@hq.example.org>")
        #expect(mail.message_id.hasPrefix("<") && mail.message_id.hasSuffix("@hq.example.org>"))
        #expect(!mail.date.isEmpty)
        #expect(mail.content_type == "text/plain")
        #expect(mail.charset == "utf-8")
        let body = try #require(mail.body)
        for line in [
            "  table:     beneficiaries", "  record:    [\"b1\"]", "  site:      site-nairobi", "  rule:      manual",
            "  decision:  pending (waiting for a person)", "  bundle:    f00d",
            "  fieldsync conflicts show 7 --dir /srv/hq",
            "  fieldsync conflicts resolve 7 --take site|hub|merged --dir /srv/hq",
        ] {
            #expect(body.contains(line), "\(line) missing from:\n\(body)")
        }
    }

    @Test func unicodeSubjectsAndBodiesArriveIntactAndNoHeaderCanBeAdded() throws {
        let directory = try TemporaryDirectory()
        let (server, caFile) = try startMailServer(in: directory, tls: true, username: "u", password: "p")
        let sender = SMTPSender(
            configuration: .init(host: "127.0.0.1", port: server.port, username: "u", password: "p", caFile: caFile))
        let subject = "Konflikt: Müller «ферма» 農場\r\nBcc: intruder@example.org " + String(repeating: "ü", count: 40)
        let body = "Zeile eins: Ünïcödé ✓\n.\n.leading dot\r\nlast line"
        try sender.send(
            MailMessage(from: "Zentrale <z@example.org>", to: ["a@example.org"], subject: subject, body: body))
        let mail = try #require(try server.records(ReceivedMail.self).first)
        #expect(mail.subject == subject.replacingOccurrences(of: "\r\n", with: "  "))
        #expect(mail.rcpt_tos == ["a@example.org"])
        #expect(!mail.raw.lowercased().contains("\nbcc:"))
        #expect(mail.body == "Zeile eins: Ünïcödé ✓\n.\n.leading dot\nlast line")
    }

    @Test func aWrongPasswordIsAnAuthenticationError() throws {
        let directory = try TemporaryDirectory()
        let (server, caFile) = try startMailServer(in: directory, tls: true, username: "hq-notify", password: "s3cret")
        let error = try #require(throws: DeliveryError.self) {
            try Self.channel(port: server.port, caFile: caFile, password: "wrong").deliver(Self.notification)
        }
        #expect(error.code == .authentication, "\(error)")
        #expect(error.location == "smtp://127.0.0.1:\(server.port)")
        #expect(!error.description.contains("wrong"))
        #expect(try server.records(ReceivedMail.self).isEmpty)
    }

    @Test func aCertificateNobodyVouchedForIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (server, _) = try startMailServer(in: directory, tls: true, username: "hq-notify", password: "s3cret")
        let error = try #require(throws: DeliveryError.self) {
            try Self.channel(port: server.port, caFile: nil).deliver(Self.notification)
        }
        #expect(error.code == .tls, "\(error)")
        #expect(try server.records(ReceivedMail.self).isEmpty)
    }

    @Test func aServerThatRequiresTLSRefusesAPlainSender() throws {
        let directory = try TemporaryDirectory()
        let (server, _) = try startMailServer(in: directory, tls: true)
        let sender = SMTPSender(configuration: .init(host: "127.0.0.1", port: server.port, startTLS: false))
        let error = try #require(throws: DeliveryError.self) {
            try sender.send(MailMessage(from: "a@example.org", to: ["b@example.org"], subject: "s", body: "b"))
        }
        #expect(error.code == .refused, "\(error)")
        #expect(error.description.contains("530"), "\(error)")
    }

    @Test func aRefusedRecipientFailsTheMessage() throws {
        let directory = try TemporaryDirectory()
        let (server, caFile) = try startMailServer(
            in: directory, tls: true, username: "hq-notify", password: "s3cret", rejecting: ["desk@hq.example.org"])
        let error = try #require(throws: DeliveryError.self) {
            try Self.channel(port: server.port, caFile: caFile).deliver(Self.notification)
        }
        #expect(error.code == .refused, "\(error)")
        #expect(error.description.contains("550"), "\(error)")
        #expect(try server.records(ReceivedMail.self).isEmpty)
    }

    @Test func nothingListeningIsAConnectionError() throws {
        let port = try unusedPort()
        let error = try #require(throws: DeliveryError.self) {
            try Self.channel(port: port, caFile: nil).deliver(Self.notification)
        }
        #expect(error.code == .connection, "\(error)")
        let webhook = WebhookChannel(poster: WebhookPoster(configuration: .init(url: "http://127.0.0.1:\(port)/hook")))
        let posted = try #require(throws: DeliveryError.self) { try webhook.deliver(Self.notification) }
        #expect(posted.code == .connection, "\(posted)")
        #expect(posted.location == "http://127.0.0.1:\(port)/hook")
    }

    @Test func badAddressesAreRefusedBeforeConnecting() throws {
        for address in ["no-at-sign", "a@b\r\nRCPT TO:<x@y>", "two@at@signs", "<>"] {
            #expect(throws: DeliveryError.self, "\(address)") { try MailMessage.address(in: address) }
        }
        #expect(try MailMessage.address(in: "Desk <desk@hq.example.org>") == "desk@hq.example.org")
        #expect(try MailMessage.address(in: "ops@hq.example.org") == "ops@hq.example.org")
    }

    @Test func theWebhookReceivesTheDetailsJSON() throws {
        let directory = try TemporaryDirectory()
        let listener = try startWebhookListener(in: directory)
        let poster = WebhookPoster(
            configuration: .init(
                url: "http://127.0.0.1:\(listener.port)/hooks/fieldsync?token=abc",
                headers: ["Authorization": "Bearer t0k3n", "X-Hub": "hq", "content-type": "text/plain"]))
        try WebhookChannel(poster: poster).deliver(Self.notification)
        let request = try #require(try listener.records(ReceivedRequest.self).first)
        #expect(request.method == "POST")
        #expect(request.path == "/hooks/fieldsync?token=abc")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["authorization"] == "Bearer t0k3n")
        #expect(request.headers["x-hub"] == "hq")
        #expect(request.body == Self.notification.details)
    }

    @Test func aWebhookAnswerOutside2xxIsAFailure() throws {
        let directory = try TemporaryDirectory()
        let listener = try startWebhookListener(in: directory, statuses: [500, 204])
        let poster = WebhookPoster(configuration: .init(url: "http://user:pw@127.0.0.1:\(listener.port)/h?k=secret"))
        let error = try #require(throws: DeliveryError.self) { try poster.post(json: "{}") }
        #expect(error.code == .refused)
        #expect(error.description.contains("HTTP 500"), "\(error)")
        #expect(!error.description.contains("secret") && !error.description.contains("pw"), "\(error)")
        #expect(try poster.post(json: "{}") == 204)
        #expect(try listener.records(ReceivedRequest.self).map(\.status) == [500, 204])
    }

    @Test func webhookSettingsAreChecked() throws {
        for (url, headers) in [
            ("ftp://example.org/x", [:]), ("http:///nohost", [:]), ("http://example.org", ["Bad Name": "x"]),
            ("http://example.org", ["X-Ok": "line\r\nInjected: yes"]),
        ] as [(String, [String: String])] {
            #expect(throws: DeliveryError.self, "\(url) \(headers)") {
                try WebhookPoster.Configuration(url: url, headers: headers).validated()
            }
        }
    }
}
