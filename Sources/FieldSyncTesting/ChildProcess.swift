import Foundation

/// Runs a program as a child process and captures what it prints: the `sqlite3` shell, or the `fieldsync`
/// binary when a test needs to kill it part-way.
public enum ChildProcess {
    /// What one run printed and how it ended.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// How a run that a test meant to kill ended.
    public enum Ending: Sendable, Equatable {
        /// Killed by the signal before it finished.
        case killed
        /// Finished on its own, before the kill, with this exit status.
        case exited(Int32)
        /// Ended by another signal.
        case signalled(Int32)
    }

    /// Runs `executable ARGUMENTS…` with standard input closed, reads both pipes to the end and waits.
    /// `environment` adds to (or replaces) variables of the test's own environment.
    public static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read standard error on another thread so that neither pipe can fill up and block the child.
        let errData = PipeReader(err.fileHandleForReading)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.wait(), as: UTF8.self))
    }

    /// Starts `executable ARGUMENTS…` (output discarded), sends it SIGKILL after `delay` seconds unless it has
    /// finished by then, and waits for it.
    ///
    /// Only the child started here is signalled, by its process id.
    public static func runAndKill(
        _ executable: String, _ arguments: [String], in directory: String? = nil, after delay: Double
    ) throws -> Ending {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        let pid = process.processIdentifier
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        switch process.terminationReason {
        case .uncaughtSignal:
            return process.terminationStatus == SIGKILL ? .killed : .signalled(process.terminationStatus)
        case .exit:
            return .exited(process.terminationStatus)
        @unknown default:
            return .signalled(process.terminationStatus)
        }
    }

    /// The first executable named `name` on `PATH` (or in the usual system folders).
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/bin"]
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A command that exited with a status other than the one expected.
public struct CommandFailure: Error, CustomStringConvertible {
    public var command: [String]
    public var output: ChildProcess.Output

    public var description: String {
        "\(command.joined(separator: " ")) exited with \(output.status)\nstdout: \(output.stdout)\nstderr: \(output.stderr)"
    }
}

/// Reads a pipe to its end on another thread.
private final class PipeReader: @unchecked Sendable {
    // @unchecked: `data` is written once by the reading thread before the semaphore is signalled.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
