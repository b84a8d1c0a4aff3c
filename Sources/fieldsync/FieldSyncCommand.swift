import ArgumentParser
import Foundation
import Logging

@main
enum FieldSyncMain {
    /// Bootstraps logging (to standard error; level from `FIELDSYNC_LOG`, default `warning`) and runs the command.
    ///
    /// Parsing and running are done here rather than by `ParsableCommand.main()` so that a single-value option
    /// given twice is refused instead of silently keeping the last value, and so that with `--json` a usage error
    /// is printed as the JSON error object too.
    static func main() {
        let level =
            ProcessInfo.processInfo.environment["FIELDSYNC_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let arguments = Array(CommandLine.arguments.dropFirst())
        let json = arguments.prefix { $0 != "--" }.contains("--json")
        do {
            var command = try FieldSyncCommand.parseAsRoot(arguments)
            if let repeated = RepeatedOptions.firstRepeated(in: arguments, of: type(of: command)) {
                report(
                    ErrorReport(
                        domain: "usage", code: "repeatedOption",
                        message: "\(repeated) was given more than once, but it takes one value; give it once"),
                    json: json)
                FieldSyncCommand.exit(withError: ExitCode.validationFailure)
            }
            try command.run()
        } catch {
            let status = FieldSyncCommand.exitCode(for: error)
            if json, status == .validationFailure, !(error is ExitCode) {
                try? printJSON(
                    ErrorReport.JSON(
                        error: ErrorReport(
                            domain: "usage", code: "usage", message: FieldSyncCommand.message(for: error))))
            }
            FieldSyncCommand.exit(withError: error)
        }
    }
}

struct FieldSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: "Keep field-site databases in step with a headquarters hub, over any road.",
        discussion: """
            FieldSync moves changes between sites and a hub as bundles: single files, signed by the sender and \
            encrypted to the recipient. In this release a bundle file is carried by hand (a USB stick, a shared \
            folder) from one node's outbox to the other's inbox and applied with 'fieldsync bundle import'. HTTP \
            sync, a hub service watching a drop folder, a site agent and courier commands are planned, not here yet.

            Exit status: 0 when the command did what was asked; 1 when something was refused or failed (a bundle, \
            a key, a store, a file, a value), with one 'error:' line saying what and where; 64 only when the \
            command line itself is wrong (an unknown flag, a missing argument or value, flags that contradict \
            one another, a single-value option given twice). With --json, errors are also printed on standard \
            output as {"error": {"domain", "code", "message", "file"}}.
            """,
        version: "0.1.0",
        subcommands: [
            KeysCommand.self, HubCommand.self, SiteCommand.self, BundleCommand.self, ConflictsCommand.self,
            StatusCommand.self,
            DemoCommand.self,
        ]
    )
}

/// Finds a single-value option given more than once on a command line.
///
/// ArgumentParser keeps the last value of a repeated single-value option without a word, so that
/// `bundle export --site a --site b` would quietly write for `b` only. Which options take several values is read
/// from the command's own description (`_dumpHelp()`, the JSON behind `--experimental-dump-help`).
enum RepeatedOptions {
    private struct Dump: Decodable {
        struct Command: Decodable {
            var arguments: [Argument]?
        }
        struct Argument: Decodable {
            var kind: String
            var isRepeating: Bool
            var names: [Name]?
        }
        struct Name: Decodable {
            var kind: String
            var name: String
        }
        var command: Command
    }

    /// The first single-value option of `command` that `arguments` give more than once, as written (`--site`).
    static func firstRepeated(in arguments: [String], of command: any ParsableCommand.Type) -> String? {
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(command._dumpHelp().utf8)) else {
            return nil
        }
        var spellings: [String: String] = [:]  // "--out" or "-o" -> the option's first spelling
        for argument in dump.command.arguments ?? [] where argument.kind == "option" && !argument.isRepeating {
            let names = (argument.names ?? []).map { ($0.kind == "long" ? "--" : "-") + $0.name }
            for name in names { spellings[name] = names.first }
        }
        var seen: Set<String> = []
        for argument in arguments.prefix(while: { $0 != "--" }) where argument.hasPrefix("-") {
            let name = String(argument.prefix { $0 != "=" })
            guard let option = spellings[name] else { continue }
            if !seen.insert(option).inserted { return option }
        }
        return nil
    }
}
