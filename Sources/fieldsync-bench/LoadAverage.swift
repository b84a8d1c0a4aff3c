import Foundation

/// The system's load, printed with the results: on a shared machine, other processes skew wall-clock throughput.
enum LoadAverage {
    /// The 1, 5 and 15 minute load averages from `/proc/loadavg`, or `unknown`.
    static func read() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
