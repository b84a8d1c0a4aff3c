import CCurl
import Foundation

/// Posts JSON to a webhook with libcurl (`http://` or `https://`); any 2xx answer is success.
public struct WebhookPoster: Sendable {
    /// Where and how to post.
    public struct Configuration: Sendable {
        public var url: String
        /// Extra request headers (for example `Authorization`), sent in name order. `Content-Type` is always
        /// `application/json`.
        public var headers: [String: String]
        /// A PEM file of CA certificates to trust instead of the system's (`CURLOPT_CAINFO`).
        public var caFile: String?
        /// Seconds to wait for the connection (default 10) and for the whole exchange (default 30).
        public var connectTimeout: Double
        public var timeout: Double

        public init(
            url: String, headers: [String: String] = [:], caFile: String? = nil, connectTimeout: Double = 10,
            timeout: Double = 30
        ) {
            self.url = url
            self.headers = headers
            self.caFile = caFile
            self.connectTimeout = connectTimeout
            self.timeout = timeout
        }

        /// The URL without credentials, query or fragment, for messages.
        public var location: String {
            guard var parts = URLComponents(string: url) else { return "webhook" }
            parts.user = nil
            parts.password = nil
            parts.query = nil
            parts.fragment = nil
            return parts.string ?? "webhook"
        }

        /// Checks the URL (http or https, with a host) and the headers (names are tokens, no line breaks).
        public func validated() throws -> Configuration {
            guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
                scheme == "http" || scheme == "https", parts.host?.isEmpty == false
            else {
                throw DeliveryError(.configuration, "the webhook URL must be an http:// or https:// URL with a host")
            }
            let token = CharacterSet(
                charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
            for (name, value) in headers {
                guard !name.isEmpty, name.unicodeScalars.allSatisfy(token.contains) else {
                    throw DeliveryError(.configuration, "'\(MailMessage.headerSafe(name))' is not a header name")
                }
                guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f || $0 == "\t" }) else {
                    throw DeliveryError(
                        .configuration, "the value of header '\(name)' holds a line break or control character")
                }
            }
            return self
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// POSTs `json` with `Content-Type: application/json` (`curl_easy_perform`); returns the HTTP status.
    ///
    /// Redirects are not followed.
    /// - Throws: ``DeliveryError`` naming the URL: not reachable, TLS not trusted, or an answer outside 2xx.
    @discardableResult
    public func post(json: String) throws -> Int {
        let settings = try configuration.validated()
        let location = settings.location
        let curl = try CurlHandle(location: location)
        try curl.set(CURLOPT_URL, settings.url)
        try curl.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try curl.set(CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000))
        try curl.set(CURLOPT_TIMEOUT_MS, Int(settings.timeout * 1000))
        if let caFile = settings.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        let custom = settings.headers.filter { $0.key.lowercased() != "content-type" }
        try curl.set(
            CURLOPT_HTTPHEADER,
            list: ["Content-Type: application/json", "Expect:"]
                + custom.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" })
        try curl.set(CURLOPT_USERAGENT, "fieldsync")
        try curl.set(CURLOPT_POSTFIELDSIZE_LARGE, size: json.utf8.count)
        try curl.set(CURLOPT_COPYPOSTFIELDS, json)
        let answer = try curl.perform()
        let status = curl.responseCode
        guard (200..<300).contains(status) else {
            let text = String(decoding: answer.prefix(200), as: UTF8.self)
            let shown = MailMessage.headerSafe(text).trimmingCharacters(in: .whitespaces)
            throw DeliveryError(
                .refused, "the webhook answered HTTP \(status)\(shown.isEmpty ? "" : ": \(shown)")", location: location)
        }
        return status
    }
}
