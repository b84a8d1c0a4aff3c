import FieldSyncCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The node's outbox while `bundle export` writes into it: held by one export at a time, and cleared of the
/// unfinished part files (`*.fsb.part`) that an export killed or cut off mid-write left behind.
struct OutboxLock {
    /// The lock file, `OUTBOX/.fieldsync-export.lock`; ignored by `bundle import`.
    static let lockName = ".fieldsync-export.lock"

    private let descriptor: Int32

    /// Waits until no other export holds `outbox`, then holds it until ``release()``.
    ///
    /// - Throws: ``FileError`` naming the lock file if it cannot be created or locked.
    init(outbox: String) throws {
        try Files.makeFolder(outbox)
        let path = "\(outbox)/\(Self.lockName)"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError.posix(errno, path: path) }
        var result: Int32
        repeat { result = flock(descriptor, LOCK_EX) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let number = errno
            close(descriptor)
            throw FileError.posix(number, path: path)
        }
        self.descriptor = descriptor
    }

    func release() {
        close(descriptor)
    }

    /// Removes FieldSync's unfinished part files (`*.fsb.part`, regular files only) from `folders`; returns what it
    /// removed. Only call this while holding the lock: an export in progress writes such files.
    static func sweep(_ folders: [String]) -> [String] {
        var removed: [String] = []
        for folder in folders {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            for name in names.sorted() where name.hasSuffix(".fsb.part") {
                let path = "\(folder)/\(name)"
                var status = stat()
                guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
                if unlink(path) == 0 { removed.append(path) }
            }
        }
        return removed
    }
}

/// Prints (on standard error, so that `--json` output stays one document) what ``OutboxLock/sweep(_:)`` removed.
func reportSwept(_ removed: [String]) {
    guard !removed.isEmpty else { return }
    let files = "unfinished bundle file\(removed.count == 1 ? "" : "s")"
    let line = "note: removed \(removed.count) \(files) left by an interrupted export: "
    FileHandle.standardError.write(Data((line + removed.joined(separator: ", ") + "\n").utf8))
}
