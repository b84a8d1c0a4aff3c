import FieldSyncBundle
import FieldSyncCore
import Foundation

/// A folder of bundles that `bundle import --from` (or the inbox) takes in, and where it files them afterwards.
enum Drop {
    /// The bundle files (`*.fsb`, regular files, not hidden) in `folder`, by name. Files still being written
    /// (`*.part`) and anything else are left alone.
    ///
    /// - Throws: ``FileError`` naming the folder if it cannot be read.
    static func bundleFiles(in folder: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw FileError(error, path: folder)
        }
        return names.sorted().filter { $0.hasSuffix(".fsb") && !$0.hasPrefix(".") }.map { "\(folder)/\($0)" }.filter {
            (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular
        }
    }

    /// Whether `error` means only that parts of a split bundle have not arrived yet.
    static func waitsForParts(_ error: any Error) -> Bool {
        (error as? BundleError)?.code == .missingPart
    }

    /// Whether a refusal may pass by itself (a store that cannot be reached or is busy, a file that cannot be read
    /// or written), so that the bundle should stay where it is and be tried again rather than be rejected.
    static func isPassing(_ report: ErrorReport) -> Bool {
        switch (report.domain, report.code) {
        case ("file", _), ("bundle", "io"), ("store", "open"), ("store", "busy"), ("store", "connection"):
            return true
        default:
            return false
        }
    }

    /// Moves `files` into `destination` (created if need be), keeping their names, or with `-2`, `-3`… before
    /// `.fsb` if a file of that name is there already; with `reason`, writes it to `NAME.reason` beside each.
    ///
    /// - Returns: the new paths.
    /// - Throws: ``FileError`` naming the file that could not be moved.
    static func move(_ files: [String], to destination: String, reason: String? = nil) throws -> [String] {
        try Files.makeFolder(destination)
        var moved: [String] = []
        for file in files {
            let name = (file as NSString).lastPathComponent
            var target = "\(destination)/\(name)"
            var copy = 1
            func taken(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
            while taken(target) || taken(target + ".reason") {
                copy += 1
                let stem = name.hasSuffix(".fsb") ? String(name.dropLast(4)) : name
                target = "\(destination)/\(stem)-\(copy)\(name.hasSuffix(".fsb") ? ".fsb" : "")"
            }
            if let reason {
                try Files.write(Data((reason + "\n").utf8), to: target + ".reason")
            }
            do {
                try FileManager.default.moveItem(atPath: file, toPath: target)
            } catch {
                throw FileError(error, path: file)
            }
            moved.append(target)
        }
        return moved
    }
}
