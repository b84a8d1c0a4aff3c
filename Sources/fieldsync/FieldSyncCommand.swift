import ArgumentParser

@main
struct FieldSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync",
        abstract: "Keep field-site databases in step with a headquarters hub, over any road.",
        discussion: """
            FieldSync moves changes between sites and a hub as bundles: single files, signed by the sender and \
            encrypted to the recipient, that travel over HTTP, a drop folder or a USB stick.
            """,
        version: "0.1.0",
        subcommands: [KeysCommand.self, HubCommand.self, SiteCommand.self, BundleCommand.self, StatusCommand.self, DemoCommand.self]
    )
}
