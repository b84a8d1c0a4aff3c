import CCurl

/// Sends email through an SMTP server with libcurl (`smtp://`), upgrading to TLS with STARTTLS.
public struct SMTPSender: Sendable {
    /// Where and how to send.
    public struct Configuration: Sendable {
        public var host: String
        /// Default 587 (message submission).
        public var port: Int
        /// Whether to require STARTTLS before anything else is sent (`CURLOPT_USE_SSL` = `CURLUSESSL_ALL`); the
        /// server's certificate is checked against the system's CAs, or ``caFile``. Default `true`.
        public var startTLS: Bool
        /// For `AUTH` (LOGIN or PLAIN, whichever the server offers); `nil` sends without logging in.
        public var username: String?
        public var password: String?
        /// A PEM file of CA certificates to trust instead of the system's (`CURLOPT_CAINFO`).
        public var caFile: String?
        /// Seconds to wait for the connection (default 10) and for the whole exchange (default 30).
        public var connectTimeout: Double
        public var timeout: Double

        public init(
            host: String, port: Int = 587, startTLS: Bool = true, username: String? = nil, password: String? = nil,
            caFile: String? = nil, connectTimeout: Double = 10, timeout: Double = 30
        ) {
            self.host = host
            self.port = port
            self.startTLS = startTLS
            self.username = username
            self.password = password
            self.caFile = caFile
            self.connectTimeout = connectTimeout
            self.timeout = timeout
        }

        /// `smtp://host:port`, for messages.
        public var location: String {
            "smtp://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Sends `message` to every one of its recipients: MAIL FROM, RCPT TO each, DATA (`curl_easy_perform`).
    ///
    /// - Throws: ``DeliveryError`` naming the server: not reachable, TLS refused or not trusted, login refused, a
    ///   recipient or the message refused (with the server's reply).
    public func send(_ message: MailMessage) throws {
        let settings = configuration
        let from = try MailMessage.address(in: message.from)
        let recipients = try message.to.map { try MailMessage.address(in: $0) }
        guard !recipients.isEmpty else {
            throw DeliveryError(.configuration, "no recipients", location: settings.location)
        }
        let curl = try CurlHandle(location: settings.location)
        try curl.set(CURLOPT_URL, settings.location)
        try curl.set(CURLOPT_PROTOCOLS_STR, "smtp")
        try curl.set(CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000))
        try curl.set(CURLOPT_TIMEOUT_MS, Int(settings.timeout * 1000))
        if settings.startTLS {
            try curl.set(CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        }
        if let caFile = settings.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        if let username = settings.username {
            try curl.set(CURLOPT_USERNAME, username)
            try curl.set(CURLOPT_PASSWORD, settings.password ?? "")
        }
        try curl.set(CURLOPT_MAIL_FROM, "<\(from)>")
        try curl.set(CURLOPT_MAIL_RCPT, list: recipients.map { "<\($0)>" })
        let bytes = message.rendered()
        try curl.set(CURLOPT_UPLOAD, 1)
        try curl.set(CURLOPT_INFILESIZE_LARGE, size: bytes.count)
        do {
            try curl.perform(upload: bytes)
        } catch var error as DeliveryError {
            let reply = curl.responseCode
            if error.code == .transfer, reply >= 400 {
                error.code = .refused
            }
            if reply >= 400, !error.message.contains(String(reply)) {
                error.message += " (server replied \(reply))"
            }
            throw error
        }
    }
}
