import Foundation

/// Runs the real `fieldsync` binary built beside the test bundle and captures what it prints.
public enum FieldSyncCommand {
    /// What one run printed and how it ended.
    public typealias Output = ChildProcess.Output

    /// The `fieldsync` executable in the build products directory.
    public static var executable: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test runner may live inside a .xctest bundle directory.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("fieldsync").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("fieldsync").path
    }

    /// Runs `fieldsync ARGUMENTS…` in `directory` (with `environment` added to the test's own) and waits for it.
    public static func run(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:])
        throws -> Output
    {
        try ChildProcess.run(executable, arguments, in: directory, environment: environment)
    }
}
