import ArgumentParser
import FieldSyncBundle

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and show node keys.",
        subcommands: [Generate.self, Show.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a node's signing and encryption keys.",
            discussion: """
                Writes DIR/ID.key (secret, mode 0600: never copy it off this machine) and DIR/ID.pub (a one-line \
                public identity to give to peers). Refuses to overwrite existing key files.
                """
        )

        @Argument(help: "The node id: 1 to 64 letters, digits, '-' or '_'.")
        var id: String

        @Option(help: "Directory for the key files.")
        var dir: String = "keys"

        @Option(help: "Key epoch; raise it when replacing a node's keys.")
        var epoch: UInt32 = 1

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let keys = try NodeKeys.generate(id: id, epoch: epoch)
                let paths = try KeyStore.write(keys, to: dir)
                if json {
                    try printJSON(
                        KeyReport(
                            id: id, epoch: epoch, secretKeyFile: paths.secret,
                            publicKeyFile: paths.public, publicIdentity: keys.identity.line,
                            fingerprint: keys.identity.fingerprint))
                } else {
                    print("Generated keys for '\(id)' (key epoch \(epoch)).")
                    print("  secret key:  \(paths.secret)  (mode 0600; keep it on this machine only)")
                    print("  public key:  \(paths.public)")
                    print("  fingerprint: \(keys.identity.fingerprint)")
                    print("")
                    print("Give this line to the peers of '\(id)':")
                    print(keys.identity.line)
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a public identity (.pub) or the public half of a secret key (.key)."
        )

        @Argument(help: "A .pub or .key file.")
        var file: String

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let identity =
                    file.hasSuffix(".key")
                    ? try KeyStore.readSecret(at: file).identity : try KeyStore.readPublic(at: file)
                if json {
                    try printJSON(
                        KeyReport(
                            id: identity.id, epoch: identity.epoch, secretKeyFile: nil,
                            publicKeyFile: nil, publicIdentity: identity.line,
                            fingerprint: identity.fingerprint))
                } else {
                    print("id:          \(identity.id)")
                    print("key epoch:   \(identity.epoch)")
                    print("fingerprint: \(identity.fingerprint)")
                    print(identity.line)
                }
            }
        }
    }
}

struct KeyReport: Encodable {
    var id: String
    var epoch: UInt32
    var secretKeyFile: String?
    var publicKeyFile: String?
    var publicIdentity: String
    var fingerprint: String
}
