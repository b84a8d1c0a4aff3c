import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncNotify
import Foundation

/// Exit status for anything refused or failed while a command ran: a bundle, a store, a key, a file, a value.
///
/// The convention, stated in `fieldsync --help` and the README: 0 done, 1 refused or failed, 64 only for a
/// command line that cannot be parsed (an unknown flag, a missing argument, a malformed value, flags that
/// contradict one another, a single-value option given twice).
let refusedExitCode = ExitCode(1)

/// Runs `body`; any error is printed as one `error:` line on standard error and becomes exit status 1.
///
/// With `json`, the error is also printed on standard output as ``ErrorReport/JSON``, the one error shape of every
/// command with `--json`. Errors become exit codes only here, at the edge of the program. A `ValidationError`
/// thrown while the command runs is a refusal (exit 1), not a usage error: the command line was understood.
func reportingErrors<R>(json: Bool = false, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        report(ErrorReport(error), json: json)
    }
    throw refusedExitCode
}

/// Prints `report` as an `error:` line on standard error and, with `json`, as a JSON error object on standard output.
func report(_ report: ErrorReport, json: Bool) {
    printError(report.text)
    if json { try? printJSON(ErrorReport.JSON(error: report)) }
}

/// One error as a person and a program read it: a domain and code to branch on, a message saying what is wrong,
/// and the file (or store) concerned.
///
/// Built from FieldSync's error structs; anything from Foundation or the C libraries is reduced to the path and the
/// cause, so that no Foundation error text or stack trace reaches a user.
struct ErrorReport: Encodable, Sendable {
    /// `bundle`, `key`, `store`, `schema`, `file`, `delivery`, `configuration`, `input` (a value given on the command
    /// line, refused while running) or `usage` (the command line cannot be read; exit status 64).
    var domain: String
    /// The error's code within its domain (for example `badSignature`, `notFound`, `invalid`).
    var code: String
    /// What is wrong, without the file.
    var message: String
    /// The file, folder or store concerned, if any.
    var file: String?

    /// `{"error": {...}}`, printed by every command with `--json` when it fails.
    struct JSON: Encodable {
        var error: ErrorReport
    }

    /// The line printed after `error:`.
    var text: String { file.map { "\($0): \(message)" } ?? message }

    init(domain: String, code: String, message: String, file: String? = nil) {
        self.domain = domain
        self.code = code
        self.message = message
        self.file = file
    }

    init(_ error: any Error) {
        switch error {
        case let error as BundleError:
            let domain = error.code == .invalidKey || error.code == .keyEpoch ? "key" : "bundle"
            self.init(domain: domain, code: error.code.description, message: error.message, file: error.path)
        case let error as StoreError:
            // A person asked for something that is not there (a conflict id, a table): the store's address would
            // only hide the answer.
            let location = error.code == .notFound ? nil : error.location
            self.init(domain: "store", code: error.code.description, message: error.message, file: location)
        case let error as SchemaError:
            self.init(domain: "schema", code: error.code.description, message: error.message)
        case let error as DeliveryError:
            self.init(domain: "delivery", code: error.code.description, message: error.description)
        case let error as FileError:
            self.init(domain: "file", code: error.code, message: error.cause, file: error.path)
        case let error as ValidationError:
            // Thrown while the command runs: a value was understood but refused (exit status 1, not a usage error).
            self.init(domain: "input", code: "invalid", message: error.message)
        case let error as DecodingError:
            self.init(domain: "configuration", code: "malformed", message: describe(error))
        default:
            let file = FileError(error)
            self.init(domain: "file", code: file.code, message: file.cause, file: file.path)
        }
    }
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
