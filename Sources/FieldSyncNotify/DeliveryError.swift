/// A notification that could not be delivered: by email (SMTP) or to a webhook.
///
/// The message names the server and what went wrong; it never holds a password, a header value or the
/// notification's content.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case configuration, connection, timeout, tls, authentication, refused, transfer
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The settings cannot work (an address or URL that is not one, a header with a line break).
        public static let configuration = Code(.configuration)
        /// The server could not be reached (name not resolved, connection refused).
        public static let connection = Code(.connection)
        /// The server did not answer in time.
        public static let timeout = Code(.timeout)
        /// TLS could not be set up: STARTTLS refused, or the server's certificate not trusted.
        public static let tls = Code(.tls)
        /// The server refused the user name or password.
        public static let authentication = Code(.authentication)
        /// The server answered with a refusal: an SMTP error reply, or an HTTP status outside 2xx.
        public static let refused = Code(.refused)
        /// The exchange broke off for another reason.
        public static let transfer = Code(.transfer)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The server, as `smtp://host:port` or the webhook URL without credentials or query.
    public var location: String?

    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}
