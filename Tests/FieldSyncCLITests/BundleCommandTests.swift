import FieldSyncTesting
import Foundation
import Testing

@Suite struct BundleCommandTests {
    @Test func demoWritesInspectsAndVerifiesABundle() throws {
        let directory = try TemporaryDirectory()
        let demo = try FieldSyncCommand.run(["demo", "--dir", "demo"], in: directory.path)
        #expect(demo.status == 0, "\(demo.stderr)")
        for table in ["beneficiaries", "distributions", "assessments"] {
            #expect(demo.stdout.contains(table), "\(demo.stdout)")
        }
        #expect(demo.stdout.components(separatedBy: ": identical").count == 4, "\(demo.stdout)")
        #expect(demo.stdout.contains("1 conflict"))
        #expect(demo.stdout.contains("never arrived"))
        #expect(!demo.stdout.contains("DIFFERENT"))
        #expect(demo.stderr.isEmpty, "\(demo.stderr)")

        // The demo leaves real node directories that the other commands work on.
        for node in ["hub", "site-nairobi", "site-kisumu"] {
            let status = try FieldSyncCommand.run(["status", "--dir", directory.file("demo/\(node)")])
            #expect(status.status == 0, "\(node): \(status.stderr)")
        }

        let outbox = directory.file("demo/site-nairobi/bundles/outbox")
        let files = try FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".fsb") }.sorted()
        let bundle = "\(outbox)/\(try #require(files.first))"
        let hubKeys = directory.file("demo/hub/keys")

        let inspect = try FieldSyncCommand.run(["bundle", "inspect", bundle, "--json"])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\"sender\" : \"site-nairobi\""))

        // The hub holds the site's public key (as HQ received it) and its own secret key.
        let verify = try FieldSyncCommand.run(
            ["bundle", "verify", bundle, "--keys-dir", hubKeys, "--key", "\(hubKeys)/hub.key"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("payload:   good"))

        // The site's own key cannot open what it sent to the hub.
        let wrong = try FieldSyncCommand.run(
            [
                "bundle", "verify", bundle, "--keys-dir", hubKeys,
                "--key", directory.file("demo/site-nairobi/keys/site-nairobi.key"),
            ])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("addressed to 'hub'"))

        // One changed byte is refused with a message naming the file.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: bundle))
        bytes[bytes.count / 2] ^= 0x20
        let tampered = directory.file("tampered.fsb")
        try bytes.write(to: URL(fileURLWithPath: tampered))
        let refused = try FieldSyncCommand.run(
            ["bundle", "verify", tampered, "--public-key", directory.file("demo/site-nairobi/keys/site-nairobi.pub")])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("tampered.fsb"))

        // The demo refuses a directory that is not empty.
        let again = try FieldSyncCommand.run(["demo", "--dir", "demo"], in: directory.path)
        #expect(again.status != 0)
        #expect(again.stderr.contains("not empty"))
    }

    @Test func keysGenerateRefusesToOverwrite() throws {
        let directory = try TemporaryDirectory()
        let first = try FieldSyncCommand.run(["keys", "generate", "site-a", "--dir", "k"], in: directory.path)
        #expect(first.status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: directory.file("k/site-a.key"))[.posixPermissions]
        #expect((mode as? NSNumber)?.intValue == 0o600)
        let second = try FieldSyncCommand.run(["keys", "generate", "site-a", "--dir", "k"], in: directory.path)
        #expect(second.status != 0)
        #expect(second.stderr.contains("refusing to overwrite"))
        let bad = try FieldSyncCommand.run(["keys", "generate", "../evil", "--dir", "k"], in: directory.path)
        #expect(bad.status != 0)
    }
}
