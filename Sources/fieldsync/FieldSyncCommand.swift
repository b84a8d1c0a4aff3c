import ArgumentParser
import Foundation
import Logging

@main
enum FieldSyncMain {
    /// Bootstraps logging (to standard error; level from `FIELDSYNC_LOG`, default `warning`) and runs the command.
    static func main() {
        let level =
            ProcessInfo.processInfo.environment["FIELDSYNC_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        FieldSyncCommand.main()
    }
}

struct FieldSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: "Keep field-site databases in step with a headquarters hub, over any road.",
        discussion: """
            FieldSync moves changes between sites and a hub as bundles: single files, signed by the sender and \
            encrypted to the recipient, that travel over HTTP, a drop folder or a USB stick.
            """,
        version: "0.1.0",
        subcommands: [
            KeysCommand.self, HubCommand.self, SiteCommand.self, BundleCommand.self, ConflictsCommand.self,
            StatusCommand.self,
            DemoCommand.self,
        ]
    )
}
