import FieldSyncTesting
import Foundation

/// A throwaway server written in Python (the scripts beside this file), started as a child process on
/// 127.0.0.1 with a port it picks itself, and stopped when the value is released.
///
/// The script prints its port first and appends one JSON line per request it handled to ``recordFile``. It also
/// stops on its own when its standard input closes or after two minutes.
final class ScriptServer: @unchecked Sendable {
    // @unchecked: the process and pipes are only touched by the owning test, and by deinit.
    let port: Int
    let recordFile: String
    private let process: Process
    private let input: Pipe

    /// Starts `python3 Support/SCRIPT ARGUMENTS… --record FILE` and waits (at most 20 s) for its port.
    init(script: String, arguments: [String], recordFile: String) throws {
        guard let python = ChildProcess.find("python3") else { throw ServerFailure("python3 is not on the PATH") }
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [folder.appendingPathComponent(script).path, "--record", recordFile] + arguments
        input = Pipe()
        let output = Pipe()
        let errors = TemporaryFile()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors.path))
        self.recordFile = recordFile
        try process.run()
        let line = FirstLine(output.fileHandleForReading)
        guard let text = line.wait(seconds: 20), let port = Int(text) else {
            process.terminate()
            process.waitUntilExit()
            throw ServerFailure("\(script) did not start: \(errors.contents())")
        }
        self.port = port
    }

    deinit {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// The JSON lines recorded so far, decoded.
    func records<T: Decodable>(_ type: T.Type) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: recordFile) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(T.self, from: Data($0.utf8))
        }
    }
}

/// One message the SMTP test server accepted.
struct ReceivedMail: Decodable {
    struct Auth: Decodable {
        var login: String
        var mechanism: String
    }

    var mail_from: String
    var rcpt_tos: [String]
    var tls: Bool
    var auth: Auth?
    var subject: String
    var from: String
    var to: String
    var date: String
    var message_id: String
    var content_type: String
    var charset: String?
    var body: String?
    var raw: String
}

/// One request the webhook test listener answered.
struct ReceivedRequest: Decodable {
    var method: String
    var path: String
    var headers: [String: String]
    var body: String
    var status: Int
}

/// The SMTP test server (aiosmtpd): with `tls`, a throwaway self-signed certificate for 127.0.0.1 made with
/// `openssl req` in `directory`, and STARTTLS required; with a username, AUTH required.
func startMailServer(
    in directory: TemporaryDirectory, tls: Bool, username: String? = nil, password: String? = nil,
    mechanisms: String = "LOGIN,PLAIN", rejecting: [String] = []
) throws -> (server: ScriptServer, caFile: String?) {
    var arguments = ["--mechanisms", mechanisms]
    var caFile: String?
    if tls {
        let certificate = directory.file("smtp-cert.pem")
        let key = directory.file("smtp-key.pem")
        try makeCertificate(certificate: certificate, key: key)
        arguments += ["--tls-cert", certificate, "--tls-key", key]
        caFile = certificate
    }
    if let username, let password { arguments += ["--username", username, "--password", password] }
    for address in rejecting { arguments += ["--reject-rcpt", address] }
    let server = try ScriptServer(
        script: "smtp_server.py", arguments: arguments, recordFile: directory.file("mail-\(UUID().uuidString).jsonl"))
    return (server, caFile)
}

/// The webhook test listener, answering with `statuses` in turn (the last one repeats).
func startWebhookListener(in directory: TemporaryDirectory, statuses: [Int] = [200]) throws -> ScriptServer {
    try ScriptServer(
        script: "webhook_server.py", arguments: ["--statuses", statuses.map(String.init).joined(separator: ",")],
        recordFile: directory.file("webhook-\(UUID().uuidString).jsonl"))
}

/// A self-signed certificate for 127.0.0.1 (P-256, one day), by `openssl req`.
func makeCertificate(certificate: String, key: String) throws {
    guard let openssl = ChildProcess.find("openssl") else { throw ServerFailure("openssl is not on the PATH") }
    let output = try ChildProcess.run(
        openssl,
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ])
    guard output.status == 0 else { throw ServerFailure("openssl req failed: \(output.stderr)") }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServerFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw ServerFailure("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

struct ServerFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A file for a child's standard error, removed with the value.
private final class TemporaryFile {
    let path = NSTemporaryDirectory() + "fieldsync-server-\(UUID().uuidString).log"

    init() { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func contents() -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }
}

/// Reads the first line of a pipe on another thread, so the wait for it is bounded.
private final class FirstLine: @unchecked Sendable {
    // @unchecked: `line` is written once by the reading thread before the semaphore is signalled.
    private var line: String?
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            var bytes: [UInt8] = []
            while true {
                let chunk = handle.readData(ofLength: 1)
                guard let byte = chunk.first, byte != 0x0a else { break }
                bytes.append(byte)
            }
            line = bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
            done.signal()
        }
    }

    func wait(seconds: Double) -> String? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return line?.trimmingCharacters(in: .whitespaces)
    }
}
