import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import Foundation

/// Exit status for a bundle or store that was refused (a usage error exits with 64, as ArgumentParser does).
let refusedExitCode = ExitCode(1)

/// Runs `body`; a FieldSync error is printed as one `error:` line on standard error and becomes exit status 1.
///
/// Errors become exit codes only here, at the edge of the program.
func reportingErrors<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as BundleError {
        printError(error.description)
    } catch let error as StoreError {
        printError(error.description)
    } catch let error as SchemaError {
        printError(error.description)
    }
    throw refusedExitCode
}

/// Writes `message` to standard error as `error: message`.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

/// Writes `message` to standard error as `warning: message`.
func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// Prints `value` as pretty JSON with sorted keys.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `1234567` as `1.2 MB`, for people; JSON output carries exact byte counts.
func formatBytes(_ bytes: Int64) -> String {
    if bytes < 1000 { return "\(bytes) bytes" }
    let units = ["kB", "MB", "GB", "TB"]
    var value = Double(bytes) / 1000
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return String(format: "%.1f %@", value, units[unit])
}

/// Prints `rows` under `header` in columns two spaces apart (the last column is not padded).
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
