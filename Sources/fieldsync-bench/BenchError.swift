/// A failure of the benchmark itself (a C call, a file, a self-check), with a message saying what failed.
struct BenchError: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) { self.message = message }

    var description: String { message }
}
