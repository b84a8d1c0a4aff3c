import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

/// Which key a node trusts: the hub's key file at a site, and a site's registered key at the hub.
@Suite struct KeyTrustTests {
    static let schema = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');"

    /// A node's own secret key file swapped for another (another hub's key of the same id, an older backup, another
    /// node's file) is refused before anything is signed with it; a newer epoch (the node's keys replaced) is taken.
    @Test func aNodeRefusesASecretKeyFileThatIsNotItsOwn() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        let hubKey = network.directory.file("hub/keys/hub.key")
        let original = try Data(contentsOf: URL(fileURLWithPath: hubKey))
        func export() throws -> FieldSyncCommand.Output {
            try network.fieldsync(["bundle", "export", "--dir", network.hubDirectory])
        }
        func swap(in keyFile: String) throws {
            try FileManager.default.removeItem(atPath: hubKey)
            try FileManager.default.copyItem(atPath: keyFile, toPath: hubKey)
        }

        // Another hub's key, also called 'hub', under the same epoch.
        let other = try network.directory.directory("other-hub")
        try network.succeed(["keys", "generate", "hub", "--dir", other])
        try swap(in: "\(other)/hub.key")
        var output = try export()
        #expect(output.status == 1, "\(output.stdout)")
        #expect(!output.stdout.contains("Wrote bundle"), "\(output.stdout)")
        for fragment in ["hub/keys/hub.key", "another key of 'hub'", "key_fingerprint"] {
            #expect(output.stderr.contains(fragment), "\(output.stderr)")
        }

        // Another node's secret key under the hub's file name.
        try swap(in: network.directory.file("site-a/keys/site-a.key"))
        output = try export()
        #expect(output.status == 1)
        #expect(output.stderr.contains("holds the secret key of 'site-a', but this node is 'hub'"), "\(output.stderr)")

        // The hub's own key again works; a newer epoch is taken and from then on the old key is refused as retired.
        func restore() throws {
            try FileManager.default.removeItem(atPath: hubKey)
            #expect(
                FileManager.default.createFile(
                    atPath: hubKey, contents: original, attributes: [.posixPermissions: 0o600]))
        }
        try restore()
        #expect(try export().status == 0)
        let newer = try network.directory.directory("newer-hub")
        try network.succeed(["keys", "generate", "hub", "--dir", newer, "--epoch", "2"])
        try swap(in: "\(newer)/hub.key")
        output = try export()
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stderr.contains("holds new keys of 'hub' (epoch 2"), "\(output.stderr)")
        try restore()
        output = try export()
        #expect(output.status == 1)
        #expect(output.stderr.contains("older than epoch 2"), "\(output.stderr)")
    }

    @Test func siteRefusesAKeyFileThatIsNotItsHubsKey() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        try network.addSite("site-b", schema: Self.schema)
        let hubKey = network.directory.file("site-a/keys/hub.pub")
        let original = try Data(contentsOf: URL(fileURLWithPath: hubKey))
        let out = try network.directory.directory("out/site-a")

        func export() throws -> FieldSyncCommand.Output {
            try network.fieldsync(["bundle", "export", "--dir", network.siteDirectory("site-a"), "--out", out])
        }
        func expectRefused(_ output: FieldSyncCommand.Output, _ fragments: [String]) throws {
            #expect(output.status == 1, "\(output.stdout)")
            #expect(!output.stdout.contains("Wrote bundle"), "\(output.stdout)")
            for fragment in fragments { #expect(output.stderr.contains(fragment), "\(output.stderr)") }
            #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        }

        // Another node's public key in place of the hub's: the message names the file, the id found and expected.
        try FileManager.default.removeItem(atPath: hubKey)
        try FileManager.default.copyItem(atPath: network.directory.file("site-b/keys/site-b.pub"), toPath: hubKey)
        try expectRefused(export(), ["site-a/keys/hub.pub", "'site-b'", "this site's hub is 'hub'"])

        // The configuration pointing at another node's key file is refused the same way.
        let configurationPath = network.directory.file("site-a/fieldsync.json")
        let configuration = try String(contentsOfFile: configurationPath, encoding: .utf8)
        try original.write(to: URL(fileURLWithPath: hubKey))
        try configuration.replacingOccurrences(
            of: "\"keys/hub.pub\"", with: "\"\(network.directory.file("site-b/keys/site-b.pub"))\""
        ).write(toFile: configurationPath, atomically: true, encoding: .utf8)
        try expectRefused(export(), ["site-b/keys/site-b.pub", "'site-b'", "'hub'"])
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)

        // A key that calls itself 'hub' but is not the key site init accepted: same epoch, then older and newer.
        let impostor = try network.directory.directory("impostor")
        try network.succeed(["keys", "generate", "hub", "--dir", impostor])
        try FileManager.default.removeItem(atPath: hubKey)
        try FileManager.default.copyItem(atPath: "\(impostor)/hub.pub", toPath: hubKey)
        try expectRefused(export(), ["site-a/keys/hub.pub", "another key of 'hub'", "hub_key_fingerprint"])

        let newer = try network.directory.directory("newer")
        try network.succeed(["keys", "generate", "hub", "--dir", newer, "--epoch", "2"])
        try FileManager.default.removeItem(atPath: hubKey)
        try FileManager.default.copyItem(atPath: "\(newer)/hub.pub", toPath: hubKey)
        try expectRefused(export(), ["key epoch 2 of 'hub'", "accepted epoch 1", "site init"])

        // The right key again: the export goes ahead.
        try FileManager.default.removeItem(atPath: hubKey)
        try original.write(to: URL(fileURLWithPath: hubKey))
        let good = try export()
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains("Wrote bundle 1 for hub"))
    }

    @Test func addSiteGuardsKeyEpochsEmbeddedHub() throws {
        let network = try CLINetwork()
        try checkAddSiteKeyEpochs(network) { _ in
            try SQLiteShell.lines(
                network.hubStore,
                "SELECT status FROM _fieldsync_log WHERE operation = 'register_site' AND site_id = 'site-a' "
                    + "ORDER BY id"
            ).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        }
    }

    @Test(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
    func addSiteGuardsKeyEpochsPostgresHub() throws {
        let database = try TestPostgres()
        let network = try CLINetwork(store: database.url)
        let connection = try database.connect()
        try checkAddSiteKeyEpochs(network) { _ in
            try connection.query(
                "SELECT status FROM sync_control.sync_log WHERE operation = 'register_site' AND client_id = 'site-a' "
                    + "ORDER BY log_id"
            ).rows.map { $0[0] ?? "" }
        }
    }

    /// Registers `site-a`, then offers it a newer key (accepted), its older key (refused, then accepted with
    /// --allow-older-epoch) and another key of the same epoch (refused, then accepted with --replace-key), checking
    /// the registered key and the hub's log after each step.
    private func checkAddSiteKeyEpochs(_ network: CLINetwork, log: (String) throws -> [String]) throws {
        try network.addSite("site-a", schema: Self.schema)
        let first = try String(contentsOfFile: network.directory.file("site-a/keys/site-a.pub"), encoding: .utf8)
        func registered() throws -> String { try #require(network.hubStatus().site("site-a")).publicKey }
        func addSite(_ file: String, _ flags: [String] = []) throws -> FieldSyncCommand.Output {
            try network.fieldsync(
                ["hub", "add-site", "--dir", network.hubDirectory, "site-a", "--public-key", file] + flags)
        }
        #expect(try registered() == first.trimmingCharacters(in: .newlines))

        let epoch2 = try network.directory.directory("epoch2")
        try network.succeed(["keys", "generate", "site-a", "--dir", epoch2, "--epoch", "2"])
        let second = try String(contentsOfFile: "\(epoch2)/site-a.pub", encoding: .utf8)
        let newer = try addSite("\(epoch2)/site-a.pub")
        #expect(newer.status == 0, "\(newer.stderr)")
        #expect(newer.stdout.contains("key epoch 2 (was 1)"))
        #expect(try registered() == second.trimmingCharacters(in: .newlines))

        // Going back to the retired epoch-1 key is refused without a word changed, and the refusal is logged.
        let older = try addSite(network.directory.file("site-a/keys/site-a.pub"))
        #expect(older.status == 1)
        #expect(older.stderr.contains("older than the registered epoch 2"), "\(older.stderr)")
        #expect(older.stderr.contains("--allow-older-epoch"))
        #expect(!older.stderr.contains("Usage"))
        #expect(try registered() == second.trimmingCharacters(in: .newlines))
        let allowed = try addSite(network.directory.file("site-a/keys/site-a.pub"), ["--allow-older-epoch"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try registered() == first.trimmingCharacters(in: .newlines))

        // Another key under the registered epoch 1.
        let other = try network.directory.directory("other")
        try network.succeed(["keys", "generate", "site-a", "--dir", other])
        let same = try addSite("\(other)/site-a.pub")
        #expect(same.status == 1)
        #expect(same.stderr.contains("another key of 'site-a' under the registered epoch 1"), "\(same.stderr)")
        #expect(try registered() == first.trimmingCharacters(in: .newlines))
        let replaced = try addSite("\(other)/site-a.pub", ["--replace-key"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let third = try String(contentsOfFile: "\(other)/site-a.pub", encoding: .utf8)
        #expect(try registered() == third.trimmingCharacters(in: .newlines))

        // The hub's copy of the key follows the registration.
        #expect(try String(contentsOfFile: network.directory.file("hub/keys/site-a.pub"), encoding: .utf8) == third)
        #expect(
            try log("site-a") == ["registered", "key_replaced", "refused", "older_epoch", "refused", "key_replaced"])
    }

    @Test func readmeVerifyCommandWorksAtTheHub() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        let bundle = try network.exportSite("site-a")
        // README: fieldsync bundle verify FILE.fsb --keys-dir hub/keys --key hub/keys/hub.key
        let verify = try network.fieldsync([
            "bundle", "verify", bundle, "--keys-dir", "hub/keys", "--key", "hub/keys/hub.key",
        ])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("payload:   good"), "\(verify.stdout)")
    }

    @Test func addSiteRefusesTheHubsOwnIdAndAMismatchedKeyFile() throws {
        let network = try CLINetwork()
        try network.addSite("site-a", schema: Self.schema)
        let mismatched = try network.fieldsync([
            "hub", "add-site", "--dir", network.hubDirectory, "site-b", "--public-key",
            network.directory.file("site-a/keys/site-a.pub"),
        ])
        #expect(mismatched.status == 1)
        #expect(mismatched.stderr.hasPrefix("error: "), "\(mismatched.stderr)")
        #expect(mismatched.stderr.contains("'site-a', not of 'site-b'"))
        #expect(!mismatched.stderr.contains("Usage"))

        let own = try network.directory.directory("own")
        try network.succeed(["keys", "generate", "hub", "--dir", own])
        let hubItself = try network.fieldsync([
            "hub", "add-site", "--dir", network.hubDirectory, "hub", "--public-key", "\(own)/hub.pub",
        ])
        #expect(hubItself.status == 1)
        #expect(hubItself.stderr.contains("this hub's own id"), "\(hubItself.stderr)")
    }
}
