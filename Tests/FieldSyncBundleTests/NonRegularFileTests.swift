import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

#if canImport(Glibc)
    import Glibc
#endif

/// A FIFO, a device or a directory given as a bundle (or found beside one) is refused at once, naming the file:
/// nothing blocks waiting for a writer, and nothing is read from a device.
@Suite struct NonRegularFileTests {
    /// Runs `body` on another thread; `nil` if it has not finished within `seconds` (it would hang forever).
    static func within(_ seconds: Double, _ body: @escaping @Sendable () -> Outcome) -> Outcome? {
        let result = Locked<Outcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.set(body())
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return result.get()
    }

    @Test func aFIFOIsRefusedAtOnceNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("waiting.fsb")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer {
            // If a reader did block on the FIFO, opening its other end releases it.
            let fd = open(fifo, O_RDWR | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let keys = try KeyFixtures()
        let attempts: [(String, @Sendable () -> Outcome)] = [
            ("read", { outcome { _ = try BundleReader(paths: [fifo]) } }),
            ("inspect", { outcome { _ = try BundleReader.inspectPart(at: fifo) } }),
            ("verify a part", { outcome { _ = try BundleReader.verifyPart(at: fifo, sender: keys.site.identity) } }),
            ("read a public key", { outcome { _ = try KeyStore.readPublic(at: fifo) } }),
        ]
        for (what, attempt) in attempts {
            let result = try #require(Self.within(20, attempt), "\(what) blocked on the FIFO")
            #expect(result.code == .io, "\(what): \(result)")
            #expect(result.error?.path == fifo, "\(what): \(result)")
            #expect(result.error?.message.contains("FIFO") == true, "\(what): \(result)")
        }
    }

    @Test func aDirectoryOrADeviceIsRefused() throws {
        let directory = try TemporaryDirectory()
        for (path, kind) in [(directory.path, "directory"), ("/dev/null", "character device")] {
            let result = outcome { _ = try BundleReader(paths: [path]) }
            #expect(result.code == .io, "\(path): \(result)")
            #expect(result.error?.message.contains(kind) == true, "\(path): \(result)")
        }
    }

    @Test func aFIFOBesideASplitBundleDoesNotBlockTheSearchForItsParts() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let data = try BundleFixtures.randomBlobs(count: 30, blobSize: 1000, seed: 21)
        let written = try BundleFixtures.write(
            data.changes, tables: [data.table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, partSizeLimit: 12_000),
            sender: keys.site, recipient: keys.hub.identity)
        let fifo = directory.file("0-not-a-part.fsb")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer {
            let fd = open(fifo, O_RDWR | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let last = written.paths.last!
        let result = try #require(
            Self.within(20) {
                outcome { try BundleFixtures.readAll([last], sender: keys.site.identity, recipient: keys.hub) }
            }, "the search for sibling parts blocked on a FIFO")
        #expect(result.code == nil, "\(result)")
    }
}

/// A value shared with another thread, behind a lock.
final class Locked<T>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ newValue: T) { lock.withLock { value = newValue } }
}
