import CCurl

/// One libcurl easy handle (`curl_easy_init`), freed with its header lists in `deinit`.
///
/// Used for a single transfer by one caller at a time; libcurl copies every string option it is given.
final class CurlHandle {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    /// The server, for messages.
    let location: String

    /// `curl_global_init`, once per process, before the first handle.
    private static let globalStatus: CURLcode = curl_global_init(fieldsync_curl_global_default())

    init(location: String) throws {
        self.location = location
        guard Self.globalStatus == CURLE_OK else {
            throw DeliveryError(
                .transfer, "libcurl could not start: \(String(cString: curl_easy_strerror(Self.globalStatus)))",
                location: location)
        }
        guard let handle = curl_easy_init() else {
            throw DeliveryError(.transfer, "libcurl could not make a handle", location: location)
        }
        self.handle = handle
        let size = Int(fieldsync_curl_error_size())
        errorBuffer = .allocate(capacity: size)
        errorBuffer.initialize(repeating: 0, count: size)
        try check(fieldsync_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        // No signals: FieldSync may run this on any thread; name lookups are then bounded by the timeouts.
        try set(CURLOPT_NOSIGNAL, 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        for list in lists { curl_slist_free_all(list) }
        errorBuffer.deallocate()
    }

    /// `curl_easy_setopt` with a number.
    func set(_ option: CURLoption, _ value: Int) throws {
        try check(fieldsync_curl_setopt_long(handle, option, value))
    }

    /// `curl_easy_setopt` with text (libcurl keeps its own copy).
    func set(_ option: CURLoption, _ value: String) throws {
        try check(value.withCString { fieldsync_curl_setopt_string(handle, option, $0) })
    }

    /// `curl_easy_setopt` with a size in bytes.
    func set(_ option: CURLoption, size: Int) throws {
        try check(fieldsync_curl_setopt_offset(handle, option, curl_off_t(size)))
    }

    /// `curl_easy_setopt` with a `curl_slist` built from `items` (kept until the handle is freed).
    func set(_ option: CURLoption, list items: [String]) throws {
        var list: UnsafeMutablePointer<curl_slist>?
        for item in items {
            guard let longer = curl_slist_append(list, item) else {
                if let list { curl_slist_free_all(list) }
                throw DeliveryError(.transfer, "libcurl ran out of memory", location: location)
            }
            list = longer
        }
        guard let list else { return }
        lists.append(list)
        try check(fieldsync_curl_setopt_list(handle, option, list))
    }

    /// Runs the transfer (`curl_easy_perform`), uploading `upload` if given through `CURLOPT_READFUNCTION`, and
    /// returns the start of what the server sent back (at most 4 kB, for messages).
    @discardableResult
    func perform(upload: [UInt8]? = nil) throws -> [UInt8] {
        let response = ResponseSink()
        let source = UploadSource(upload ?? [])
        try check(fieldsync_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, ResponseSink.write))
        try check(
            fieldsync_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(response).toOpaque()))
        if upload != nil {
            try check(fieldsync_curl_setopt_callback(handle, CURLOPT_READFUNCTION, UploadSource.read))
            try check(
                fieldsync_curl_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(source).toOpaque()))
        }
        let code = withExtendedLifetime((response, source)) { curl_easy_perform(handle) }
        try check(code)
        return response.bytes
    }

    /// The last response code: the HTTP status, or the SMTP server's last reply code.
    var responseCode: Int {
        var code = 0
        _ = fieldsync_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    /// Turns a libcurl result into a thrown ``DeliveryError`` with libcurl's own message.
    private func check(_ code: CURLcode) throws {
        guard code != CURLE_OK else { return }
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        throw DeliveryError(Self.kind(of: code), message, location: location)
    }

    private static func kind(of code: CURLcode) -> DeliveryError.Code {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            return .connection
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_USE_SSL_FAILED, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
            CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND:
            return .tls
        case CURLE_LOGIN_DENIED, CURLE_AUTH_ERROR:
            return .authentication
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT,
            CURLE_UNKNOWN_OPTION:
            return .configuration
        default:
            return .transfer
        }
    }
}

/// The bytes `CURLOPT_READFUNCTION` hands to libcurl, in pieces as it asks.
private final class UploadSource {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let read: fieldsync_curl_data_callback = { buffer, size, count, context in
        guard let buffer, let context else { return 0 }
        let source = Unmanaged<UploadSource>.fromOpaque(context).takeUnretainedValue()
        let length = min(size * count, source.bytes.count - source.offset)
        source.bytes.withUnsafeBytes { all in
            guard let base = all.baseAddress, length > 0 else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + source.offset, byteCount: length)
        }
        source.offset += length
        return length
    }
}

/// What `CURLOPT_WRITEFUNCTION` receives: the first 4 kB are kept for messages, the rest is dropped.
private final class ResponseSink {
    var bytes: [UInt8] = []

    static let write: fieldsync_curl_data_callback = { buffer, size, count, context in
        guard let context else { return 0 }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        if let buffer, sink.bytes.count < 4096 {
            let keep = min(length, 4096 - sink.bytes.count)
            buffer.withMemoryRebound(to: UInt8.self, capacity: keep) {
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: keep))
            }
        }
        return length
    }
}
