import Foundation

/// A fresh directory for one run's files, removed with everything in it when released.
final class ScratchDirectory {
    let path: String

    init(parent: String?) throws {
        let base = parent ?? NSTemporaryDirectory()
        var template = Array(((base as NSString).appendingPathComponent("fieldsync-bench.XXXXXX")).utf8CString)
        guard mkdtemp(&template) != nil else { throw BenchError("cannot create a temporary directory in \(base)") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
