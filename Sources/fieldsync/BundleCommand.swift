import ArgumentParser
import FieldSyncBundle
import Foundation

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Write, apply, inspect and verify bundles.",
        subcommands: [Export.self, Import.self, Inspect.self, Verify.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a bundle's header without any key.",
            discussion: """
                Reads only the unencrypted header and trailer of each file. Nothing shown is trusted until \
                'fieldsync bundle verify' has checked the sender's signature.
                """
        )

        @Argument(help: "Bundle files (.fsb); give each part of a split bundle, or one part.")
        var files: [String]

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let infos = try files.map { try BundleReader.inspectPart(at: $0) }
                if json {
                    try printJSON(infos.map(PartReport.init))
                    return
                }
                for (index, info) in infos.enumerated() {
                    if index > 0 { print("") }
                    let header = info.header
                    print("file:          \(info.path)")
                    print("bundle:        \(header.bundleID)")
                    print("kind:          \(header.kind.rawValue)")
                    print("sender:        \(header.sender) (key epoch \(header.keyEpoch))")
                    print("recipient:     \(header.recipient) (key epoch \(header.recipientKeyEpoch))")
                    print("sequence:      \(header.sequence)")
                    if !header.prerequisites.isEmpty {
                        let list = header.prerequisites.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                        print("builds on:     \(list.joined(separator: ", "))")
                    }
                    print("created:       \(header.created) (by the sender's clock)")
                    print(
                        "format:        \(header.format) v\(header.version); requires \(header.requires.joined(separator: ", "))"
                    )
                    print("part:          \(info.part) of \(info.parts)")
                    print("size:          \(formatBytes(info.size)) (\(info.size) bytes)")
                    print("not verified:  run 'fieldsync bundle verify' to check the signature")
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a bundle's signature and digests, and with the recipient's key its whole content.",
            discussion: """
                Without --key, checks that the sender signed the header and that every byte of every part is \
                what was signed: a courier can check a copy on a stick. With the recipient's secret key, also \
                decrypts and checks every chunk, the manifest and every row. Exits 0 only if everything holds.
                """
        )

        @Argument(help: "Bundle files (.fsb); the other parts of a split bundle are looked for beside the first.")
        var files: [String]

        @Option(
            name: .customLong("public-key"), help: "The sender's public identity (.pub). Default: KEYS-DIR/SENDER.pub.")
        var publicKey: String?

        @Option(help: "The recipient's secret key (.key), to decrypt and check the content.")
        var key: String?

        @Option(
            name: .customLong("keys-dir"), help: "Where to look for the sender's .pub when --public-key is not given.")
        var keysDir: String = "keys"

        @Flag(
            name: .customLong("each-part"),
            help: "Check each given part file on its own (signature and digest), without needing the other parts.")
        var eachPart = false

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                if eachPart {
                    try verifyEachPart()
                    return
                }
                let reader = try BundleReader(paths: files)
                let header = reader.header
                let sender = try senderIdentity(header.sender)
                try reader.verify(sender: sender)
                var report = VerifyReport(
                    bundle: header.bundleID, kind: header.kind.rawValue, sender: header.sender,
                    recipient: header.recipient, sequence: header.sequence, parts: reader.partPaths,
                    bytes: reader.totalSize, signature: "good", digests: "good", payload: "not checked")
                if let key {
                    let keys = try KeyStore.readSecret(at: key)
                    let contents = try reader.open(recipient: keys)
                    var tables: [String: Int] = [:]
                    var batches = 0
                    while let batch = try contents.nextBatch() {
                        tables[batch.schema.name, default: 0] += try batch.forEach { _ in }
                        batches += 1
                    }
                    report.payload = "good"
                    report.tables = tables
                    report.batches = batches
                    report.rows = tables.values.reduce(0, +)
                }
                if json {
                    try printJSON(report)
                    return
                }
                let partsText = reader.partPaths.count == 1 ? "1 part" : "\(reader.partPaths.count) parts"
                print(
                    "bundle \(header.bundleID) (\(header.kind.rawValue)) from \(header.sender) to \(header.recipient), "
                        + "sequence \(header.sequence), \(partsText), \(formatBytes(reader.totalSize))")
                print("  signature: good (\(sender.id), key epoch \(sender.epoch), fingerprint \(sender.fingerprint))")
                print("  digests:   good (every byte of every part is as signed)")
                if let tables = report.tables {
                    let list = tables.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    print(
                        "  payload:   good (every chunk authenticated; \(report.batches ?? 0) batches, "
                            + "\(report.rows ?? 0) rows: \(list.isEmpty ? "none" : list))")
                } else {
                    print("  payload:   not checked (give --key with the recipient's secret key to check it)")
                }
                print("OK")
            }
        }

        /// The sender's public identity from --public-key or the keys directory.
        private func senderIdentity(_ sender: String) throws -> PublicIdentity {
            let publicPath = publicKey ?? "\(keysDir)/\(sender).pub"
            guard FileManager.default.fileExists(atPath: publicPath) else {
                throw BundleError(
                    .unknownSender,
                    "no public key for sender '\(sender)': pass --public-key FILE (looked for \(publicPath))",
                    path: files[0])
            }
            return try KeyStore.readPublic(at: publicPath)
        }

        private func verifyEachPart() throws {
            var reports: [PartReport] = []
            for file in files {
                let info = try BundleReader.inspectPart(at: file)
                try BundleReader.verifyPart(at: file, sender: try senderIdentity(info.header.sender))
                var report = PartReport(info)
                report.verified = true
                reports.append(report)
                if !json {
                    print(
                        "\(file): part \(info.part) of \(info.parts) of bundle \(info.header.bundleID) from "
                            + "\(info.header.sender): signature and digest good")
                }
            }
            if json { try printJSON(reports) } else { print("OK") }
        }
    }
}

struct PartReport: Encodable {
    var path: String
    var bundleID: String
    var kind: String
    var sender: String
    var keyEpoch: UInt32
    var recipient: String
    var recipientKeyEpoch: UInt32
    var sequence: UInt64
    var prerequisites: [String: Int64]
    var created: String
    var formatVersion: Int
    var requires: [String]
    var part: Int
    var parts: Int
    var size: Int64
    var verified = false

    init(_ info: BundlePartInfo) {
        path = info.path
        bundleID = info.header.bundleID
        kind = info.header.kind.rawValue
        sender = info.header.sender
        keyEpoch = info.header.keyEpoch
        recipient = info.header.recipient
        recipientKeyEpoch = info.header.recipientKeyEpoch
        sequence = info.header.sequence
        prerequisites = info.header.prerequisites
        created = info.header.created
        formatVersion = info.header.version
        requires = info.header.requires
        part = info.part
        parts = info.parts
        size = info.size
    }
}

struct VerifyReport: Encodable {
    var bundle: String
    var kind: String
    var sender: String
    var recipient: String
    var sequence: UInt64
    var parts: [String]
    var bytes: Int64
    var signature: String
    var digests: String
    var payload: String
    var tables: [String: Int]?
    var batches: Int?
    var rows: Int?
}
