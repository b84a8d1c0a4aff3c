import FieldSyncBundle
import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

/// Key files: a secret file only its owner can read, a public one-line identity with a check, and no secret
/// ever shown.
@Suite struct KeyTests {
    @Test func writeCreatesAPrivateSecretFileAndAPublicIdentity() throws {
        let directory = try TemporaryDirectory()
        let keys = try NodeKeys.generate(id: "site-a", epoch: 3)
        let store = directory.file("keys/nested")
        let written = try KeyStore.write(keys, to: store)
        #expect(written.secret == "\(store)/site-a.key")
        #expect(written.public == "\(store)/site-a.pub")
        #expect(try FileBytes.permissions(written.secret) == 0o600)
        #expect(try FileBytes.permissions(written.public) == 0o644)
        #expect(try String(contentsOfFile: written.public, encoding: .utf8) == keys.identity.line + "\n")
        let secretText = try String(contentsOfFile: written.secret, encoding: .utf8)
        #expect(secretText.hasPrefix("FIELDSYNC SECRET KEY v1\nid: site-a\nepoch: 3\n"))

        let read = try KeyStore.readSecret(at: written.secret)
        #expect(read.id == "site-a" && read.epoch == 3)
        #expect(read.identity == keys.identity)
        #expect(try KeyStore.readPublic(at: written.public) == keys.identity)
    }

    @Test func keysReadFromFilesWorkForBundles() throws {
        let directory = try TemporaryDirectory()
        let keys = try KeyFixtures()
        let site = try KeyStore.write(keys.site, to: directory.path)
        let hub = try KeyStore.write(keys.hub, to: directory.path)
        let data = try BundleFixtures.randomBlobs(count: 3, blobSize: 10, seed: 1)
        let result = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: try directory.directory("out")),
            sender: try KeyStore.readSecret(at: site.secret), recipient: try KeyStore.readPublic(at: hub.public))
        let read = try BundleFixtures.readAll(
            result.paths, sender: try KeyStore.readPublic(at: site.public),
            recipient: try KeyStore.readSecret(at: hub.secret)
        ).changes
        #expect(BundleFixtures.identical(read, data.changes))
    }

    @Test func writeRefusesToOverwriteEitherFile() throws {
        let directory = try TemporaryDirectory()
        let first = try NodeKeys.generate(id: "site-a")
        let written = try KeyStore.write(first, to: directory.path)
        let secretBefore = try FileBytes.read(written.secret)
        let publicBefore = try FileBytes.read(written.public)
        let error = #expect(throws: BundleError.self) {
            try KeyStore.write(try NodeKeys.generate(id: "site-a"), to: directory.path)
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("refusing to overwrite") == true)
        #expect(try FileBytes.read(written.secret) == secretBefore)
        #expect(try FileBytes.read(written.public) == publicBefore)

        // Only the public file there: still refused, and no secret file appears.
        try FileManager.default.removeItem(atPath: written.secret)
        #expect(throws: BundleError.self) {
            try KeyStore.write(try NodeKeys.generate(id: "site-a"), to: directory.path)
        }
        #expect(!FileManager.default.fileExists(atPath: written.secret))
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o666, 0o700, 0o610])
    func readSecretChecksWhoCanReadTheFile(_ mode: Int) throws {
        let directory = try TemporaryDirectory()
        let written = try KeyStore.write(try NodeKeys.generate(id: "hub"), to: directory.path)
        try FileBytes.setPermissions(mode, of: written.secret)
        let isOpen = mode & 0o077 != 0
        let result = outcome { _ = try KeyStore.readSecret(at: written.secret) }
        if isOpen {
            #expect(result.code == .invalidKey, "\(result)")
            #expect(result.error?.message.contains("chmod 600") == true)
        } else {
            #expect(result.code == nil, "mode \(String(mode, radix: 8)): \(result)")
        }
    }

    @Test func readSecretAcceptsAnOwnerOnlyFile() throws {
        let directory = try TemporaryDirectory()
        let keys = try NodeKeys.generate(id: "hub")
        let written = try KeyStore.write(keys, to: directory.path)
        try FileBytes.setPermissions(0o400, of: written.secret)
        #expect(try KeyStore.readSecret(at: written.secret).identity == keys.identity)
    }

    /// The text of a secret key file with one line replaced.
    static func replacing(_ field: String, in text: String, with value: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasPrefix("\(field):") ? "\(field): \(value)" : String($0)
        }.joined(separator: "\n")
    }

    @Test func aDamagedOrSplicedSecretKeyFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let keys = try NodeKeys.generate(id: "site-a")
        let other = try NodeKeys.generate(id: "site-b")
        let written = try KeyStore.write(keys, to: try directory.directory("a"))
        let otherWritten = try KeyStore.write(other, to: try directory.directory("b"))
        let text = try String(contentsOfFile: written.secret, encoding: .utf8)
        let otherText = try String(contentsOfFile: otherWritten.secret, encoding: .utf8)
        func field(_ name: String, _ text: String) -> String {
            text.split(separator: "\n").first { $0.hasPrefix("\(name): ") }!.dropFirst(name.count + 2).description
        }
        // The Ed25519 secret key embeds its public half; splice another key's public half in.
        var signing = try #require(Data(base64Encoded: field("signing-secret", text)))
        let otherSigning = try #require(Data(base64Encoded: field("signing-secret", otherText)))
        signing.replaceSubrange(32..<64, with: otherSigning[32..<64])
        let damaged: [(String, String)] = [
            ("spliced signing key", Self.replacing("signing-secret", in: text, with: signing.base64EncodedString())),
            (
                "no encryption line",
                Self.replacing("encryption-secret", in: text, with: "").replacingOccurrences(
                    of: "encryption-secret: \n", with: "")
            ),
            ("short encryption key", Self.replacing("encryption-secret", in: text, with: "AAAA")),
            ("not base64", Self.replacing("signing-secret", in: text, with: "!!!!")),
            ("invalid id", Self.replacing("id", in: text, with: "../hub")),
            ("invalid epoch", Self.replacing("epoch", in: text, with: "-1")),
            ("wrong first line", text.replacingOccurrences(of: "FIELDSYNC SECRET KEY v1", with: "SSH PRIVATE KEY")),
            ("empty", ""),
        ]
        for (what, content) in damaged {
            let path = directory.file("damaged.key")
            try? FileManager.default.removeItem(atPath: path)
            try FileBytes.write(Array(content.utf8), to: path)
            try FileBytes.setPermissions(0o600, of: path)
            let result = outcome { _ = try KeyStore.readSecret(at: path) }
            #expect(result.code == .invalidKey, "\(what): \(result)")
            // Whatever the message, it never shows key material.
            #expect(result.error?.description.contains(field("encryption-secret", text)) != true)
        }
    }

    @Test func secretsNeverAppearInDescriptions() throws {
        let directory = try TemporaryDirectory()
        let keys = try NodeKeys.generate(id: "site-a")
        let written = try KeyStore.write(keys, to: directory.path)
        let text = try String(contentsOfFile: written.secret, encoding: .utf8)
        let secrets = text.split(separator: "\n").filter { $0.contains("secret: ") }.map {
            String($0.split(separator: " ").last!)
        }
        #expect(secrets.count == 2)
        for secret in secrets {
            #expect(!keys.description.contains(secret))
            #expect(!"\(keys)".contains(secret))
            #expect(!keys.identity.line.contains(secret))
        }
    }

    @Test func aPublicIdentityLineSurvivesCommentsAndWhitespace() throws {
        let keys = try NodeKeys.generate(id: "hub_1", epoch: 12)
        let text = "# hub of the Northern region\n\n   \(keys.identity.line)   \r\n# end\n"
        #expect(try PublicIdentity(line: text) == keys.identity)
        #expect(keys.identity.fingerprint.split(separator: "-").count == 8)
    }

    @Test func aPublicIdentityWithAnyOneCharacterChangedIsRefused() throws {
        let keys = try NodeKeys.generate(id: "site-a", epoch: 7)
        let line = Array(keys.identity.line)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:")
        var accepted: [String] = []
        var tried = 0
        for index in line.indices {
            // Three replacements per position, from the same alphabet, so the line still looks plausible.
            let candidates = alphabet.filter { $0 != line[index] }
            for step in [1, 17, 40] {
                var changed = line
                changed[index] = candidates[(index + step) % candidates.count]
                tried += 1
                let result = outcome { _ = try PublicIdentity(line: String(changed)) }
                if result.code != .invalidKey { accepted.append("position \(index): \(String(changed)) → \(result)") }
            }
        }
        #expect(tried == line.count * 3)
        #expect(accepted.isEmpty, "\(accepted.prefix(10).joined(separator: "\n"))")
    }

    @Test func aCutOrPaddedPublicIdentityIsRefused() throws {
        let line = try NodeKeys.generate(id: "site-a").identity.line
        for cut in 1...12 {
            #expect(throws: BundleError.self) { _ = try PublicIdentity(line: String(line.dropLast(cut))) }
        }
        for extra in ["A", "AA", "=", ":x"] {
            #expect(throws: BundleError.self) { _ = try PublicIdentity(line: line + extra) }
        }
        #expect(throws: BundleError.self) { _ = try PublicIdentity(line: "") }
        #expect(throws: BundleError.self) { _ = try PublicIdentity(line: "# only a comment") }
    }

    @Test func nodeIDsAreChecked() throws {
        for id in ["", "-leading", "has space", "slash/", "../x", String(repeating: "a", count: 65), "ü"] {
            let error = #expect(throws: BundleError.self) { _ = try NodeKeys.generate(id: id) }
            #expect(error?.code == .invalidArgument)
        }
        _ = try NodeKeys.generate(id: String(repeating: "a", count: 64))
    }
}
