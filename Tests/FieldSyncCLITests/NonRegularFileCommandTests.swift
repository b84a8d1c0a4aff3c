import FieldSyncTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `bundle import`, `bundle verify` and `bundle inspect` refuse a FIFO (or any file that is not a regular file) at
/// once, naming it, instead of blocking forever waiting for a writer. Each run of the real binary is bounded by
/// `timeout`, which would end a hung run with status 124.
@Suite struct NonRegularFileCommandTests {
    static func bounded(_ arguments: [String], in directory: String) throws -> ChildProcess.Output {
        let timeout = try #require(ChildProcess.find("timeout"), "the 'timeout' program (coreutils) is needed")
        return try ChildProcess.run(timeout, ["30", FieldSyncCommand.executable] + arguments, in: directory)
    }

    @Test func aFIFOGivenToBundleCommandsIsRefusedAtOnce() throws {
        let network = try CLINetwork()
        let fifo = network.directory.file("stick.fsb")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer {
            let fd = open(fifo, O_RDWR | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let commands: [[String]] = [
            ["bundle", "import", "--dir", network.hubDirectory, fifo],
            ["bundle", "verify", fifo, "--keys-dir", network.directory.file("hub/keys")],
            ["bundle", "inspect", fifo],
        ]
        for arguments in commands {
            let output = try Self.bounded(arguments, in: network.directory.path)
            #expect(output.status == 1, "\(arguments): status \(output.status), \(output.stderr)")
            #expect(output.stderr.contains(fifo), "\(arguments): \(output.stderr)")
            #expect(output.stderr.contains("FIFO"), "\(arguments): \(output.stderr)")
        }
    }

    @Test func aDirectoryGivenAsABundleIsRefused() throws {
        let network = try CLINetwork()
        let folder = try network.directory.directory("folder.fsb")
        let output = try Self.bounded(
            ["bundle", "import", "--dir", network.hubDirectory, folder], in: network.directory.path)
        #expect(output.status == 1, "status \(output.status), \(output.stderr)")
        #expect(output.stderr.contains("directory"), "\(output.stderr)")
    }
}
