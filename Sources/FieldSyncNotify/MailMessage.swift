import Foundation

/// A plain-text email in RFC 5322 form, as ``SMTPSender`` uploads it.
///
/// Header values are kept on one line (line breaks and other control characters become spaces, so nothing a site
/// sent can add a header), and encoded as RFC 2047 UTF-8 words when they are not plain ASCII. The body is sent
/// as 7-bit text when it is ASCII with short lines, else in base64; either way it is declared UTF-8.
public struct MailMessage: Sendable {
    /// The sender, as `address` or `Name <address>`.
    public var from: String
    /// The recipients, each as `address` or `Name <address>`.
    public var to: [String]
    public var subject: String
    public var body: String
    public var date: Date
    /// The `Message-ID` without angle brackets (`id@domain`).
    public var messageID: String

    /// A message dated `date`, with a new random `Message-ID` in the sender's domain.
    public init(from: String, to: [String], subject: String, body: String, date: Date = Date()) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
        let domain = (try? Self.address(in: from)).flatMap { $0.split(separator: "@").last.map(String.init) }
        messageID = "\(UUID().uuidString.lowercased())@\(domain ?? "fieldsync.invalid")"
    }

    /// The bytes to upload: headers and body with CRLF line ends.
    public func rendered() -> [UInt8] {
        var lines = [
            "Date: \(Self.dateFormatter.string(from: date))",
            "Message-ID: <\(Self.headerSafe(messageID))>",
            "From: \(Self.mailbox(from))",
            "To: \(to.map(Self.mailbox).joined(separator: ",\r\n "))",
            "Subject: \(Self.encodedHeader(subject))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        let text = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let bodyLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let plain = text.utf8.allSatisfy { $0 < 0x80 } && bodyLines.allSatisfy { $0.utf8.count <= 998 }
        var content: String
        if plain {
            lines.append("Content-Transfer-Encoding: 7bit")
            content = bodyLines.joined(separator: "\r\n")
        } else {
            lines.append("Content-Transfer-Encoding: base64")
            content = Data(text.utf8).base64EncodedString(options: [
                .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed,
            ])
        }
        if !content.hasSuffix("\r\n") { content += "\r\n" }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + content).utf8)
    }

    /// The address (`local@domain`) of a mailbox written as `address` or `Name <address>`; throws if it is not
    /// one a server would take.
    public static func address(in mailbox: String) throws -> String {
        var text = mailbox.trimmingCharacters(in: .whitespaces)
        guard text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else {
            throw DeliveryError(.configuration, "'\(headerSafe(mailbox))' is not an email address")
        }
        if let open = text.lastIndex(of: "<"), text.hasSuffix(">") {
            text = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            text.unicodeScalars.allSatisfy({
                $0.value > 0x20 && $0.value != 0x7f && !"<>()[],;:\"\\".unicodeScalars.contains($0)
            })
        else {
            throw DeliveryError(.configuration, "'\(headerSafe(mailbox))' is not an email address")
        }
        return text
    }

    /// `Name <address>` with the name quoted or encoded as needed; a bare address stays as it is.
    static func mailbox(_ mailbox: String) -> String {
        let text = headerSafe(mailbox).trimmingCharacters(in: .whitespaces)
        guard let open = text.lastIndex(of: "<"), text.hasSuffix(">") else { return text }
        let name = text[..<open].trimmingCharacters(in: .whitespaces)
        let address = text[open...]
        guard !name.isEmpty else { return String(address) }
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            let unquoted =
                name.hasPrefix("\"") && name.hasSuffix("\"") && name.count >= 2
                ? String(name.dropFirst().dropLast()) : name
            let escaped = unquoted.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
                of: "\"", with: "\\\"")
            return "\"\(escaped)\" \(address)"
        }
        return "\(encodedWords(name)) \(address)"
    }

    /// A header value on one line: control characters become spaces.
    static func headerSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? " " : $0 }))
    }

    /// A header value: as it is when plain ASCII, else RFC 2047 encoded words.
    static func encodedHeader(_ text: String) -> String {
        let safe = headerSafe(text)
        if safe.utf8.allSatisfy({ $0 < 0x80 }) && safe.utf8.count <= 900 { return safe }
        return encodedWords(safe)
    }

    /// `=?UTF-8?B?…?=` words of at most 45 bytes of text each (75 characters encoded), split between characters,
    /// on folded lines.
    static func encodedWords(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    private static var dateFormatter: DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter
    }
}
