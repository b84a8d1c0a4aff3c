import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file or folder the command could not use: the path and the cause in plain words.
///
/// Foundation's file errors (`NSCocoaErrorDomain …`) are turned into this at the edge, so that a person reads
/// "out.fsb: is a file, not a folder" rather than Foundation's text.
struct FileError: Error, CustomStringConvertible {
    /// A short code: `notFound`, `exists`, `notAFolder`, `permission`, `diskFull`, `readOnly` or `io`.
    var code: String
    /// The file or folder, if known.
    var path: String?
    /// What is wrong with it.
    var cause: String

    init(code: String, path: String?, cause: String) {
        self.code = code
        self.path = path
        self.cause = cause
    }

    var description: String { path.map { "\($0): \(cause)" } ?? cause }

    /// Reduces any error (usually a `CocoaError` from `FileManager` or `Data.write`) to a path and a cause.
    ///
    /// The cause comes from the operating system's error number where there is one, otherwise from the kind of
    /// failure; an error of an unknown kind is named by its type only, never by its description.
    init(_ error: any Error, path fallbackPath: String? = nil) {
        if let error = error as? FileError {
            self = error
            return
        }
        let nsError = error as NSError
        let path =
            (nsError.userInfo[NSFilePathErrorKey] as? String)
            ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path ?? fallbackPath
        var number: Int32?
        if nsError.domain == NSPOSIXErrorDomain {
            number = Int32(truncatingIfNeeded: nsError.code)
        } else if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
            underlying.domain == NSPOSIXErrorDomain
        {
            number = Int32(truncatingIfNeeded: underlying.code)
        }
        if let number {
            self = Self.posix(number, path: path)
            return
        }
        if let path, let file = Self.firstFileAncestor(of: path), file != path {
            self.init(code: "notAFolder", path: file, cause: "is a file, not a folder")
            return
        }
        guard nsError.domain == NSCocoaErrorDomain else {
            self.init(
                code: "io", path: path, cause: "failed (\(String(describing: type(of: error))) \(nsError.code))")
            return
        }
        switch CocoaError.Code(rawValue: nsError.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile:
            self.init(code: "notFound", path: path, cause: "does not exist")
        case .fileWriteFileExists:
            self.init(code: "exists", path: path, cause: "already exists")
        case .fileReadNoPermission, .fileWriteNoPermission:
            self.init(code: "permission", path: path, cause: "permission denied")
        case .fileWriteOutOfSpace:
            self.init(code: "diskFull", path: path, cause: "the disk is full")
        case .fileWriteVolumeReadOnly:
            self.init(code: "readOnly", path: path, cause: "the disk is read-only")
        case .fileReadCorruptFile:
            self.init(code: "io", path: path, cause: "is damaged or not in the expected format")
        default:
            self.init(code: "io", path: path, cause: "cannot be read or written")
        }
    }

    /// The cause for an operating-system error number.
    static func posix(_ number: Int32, path: String?) -> FileError {
        switch number {
        case ENOENT: return FileError(code: "notFound", path: path, cause: "does not exist")
        case EEXIST: return FileError(code: "exists", path: path, cause: "already exists")
        case ENOTDIR:
            if let path, let file = firstFileAncestor(of: path) {
                return FileError(code: "notAFolder", path: file, cause: "is a file, not a folder")
            }
            return FileError(code: "notAFolder", path: path, cause: "a part of the path is a file, not a folder")
        case EISDIR: return FileError(code: "isAFolder", path: path, cause: "is a folder, not a file")
        case EACCES, EPERM: return FileError(code: "permission", path: path, cause: "permission denied")
        case ENOSPC: return FileError(code: "diskFull", path: path, cause: "the disk is full")
        case EROFS: return FileError(code: "readOnly", path: path, cause: "the disk is read-only")
        default: return FileError(code: "io", path: path, cause: String(cString: strerror(number)))
        }
    }

    /// The first component of `path` (from the root down) that exists and is not a folder.
    static func firstFileAncestor(of path: String) -> String? {
        let absolute = path.hasPrefix("/")
        var current = absolute ? "" : "."
        for component in path.split(separator: "/") {
            current += "/\(component)"
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: current, isDirectory: &isFolder), !isFolder.boolValue {
                return absolute ? current : String(current.dropFirst(2))
            }
        }
        return nil
    }
}

/// File-system steps of the command-line tool, each failing with a ``FileError`` that names the path.
enum Files {
    /// Creates `path` and its parents unless it is a folder already.
    ///
    /// - Throws: ``FileError`` if `path` (or a parent) is a file, or the folder cannot be created.
    static func makeFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else {
                throw FileError(code: "notAFolder", path: path, cause: "is a file, not a folder")
            }
            return
        }
        if let file = FileError.firstFileAncestor(of: path) {
            throw FileError(code: "notAFolder", path: file, cause: "is a file, not a folder")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileError(error, path: path)
        }
    }

    /// Writes `data` to `path` atomically (through a temporary file renamed into place).
    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FileError(error, path: path)
        }
    }
}
