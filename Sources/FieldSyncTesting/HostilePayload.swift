import FieldSyncBundle

/// Archives a hostile or careless sender could seal into a correctly signed bundle, each of which a reader must
/// refuse, in bounded memory and without writing anything to disk.
///
/// Every payload starts with the manifest it is given (so that the reader gets past its first checks), then holds
/// the hostile entry where the first batch would be. Build one with ``write(manifest:to:)``.
public enum HostilePayload: String, Sendable, CaseIterable, CustomStringConvertible {
    /// An entry named `/etc/passwd`.
    case absolutePath
    /// An entry named `../../etc/cron.d/fieldsync`.
    case parentDirectory
    /// A batch-looking name that climbs out: `batches/../../outside.tsv`.
    case parentInsideBatches
    /// An entry named `./batches/000001.samples.tsv`.
    case dotComponent
    /// An entry with a backslash, `batches\..\..\evil.tsv`.
    case backslashPath
    /// An entry name of 300 characters.
    case overlongPath
    /// A batch entry that is a symbolic link to `/etc/passwd`.
    case symlink
    /// A symbolic link whose target is relative and climbs out.
    case relativeSymlink
    /// A batch entry that is a hard link to the manifest.
    case hardlink
    /// A directory entry `batches/`.
    case directory
    /// A FIFO named like a batch.
    case fifo
    /// A character device named like a batch.
    case characterDevice
    /// A batch entry of 1 GiB of zeros (streamed; compressed it is a few tens of KiB).
    case gigabyteOfZeros
    /// A batch entry one byte larger than the default entry-size limit of 64 MiB.
    case justOverEntryLimit
    /// 100,000 tiny batch entries, twice the default entry-count limit.
    case hundredThousandEntries
    /// A manifest of 17 MiB, more than the 16 MiB a reader buffers, as the only entry.
    case hugeManifest
    /// An entry the format does not have, `notes.txt`.
    case unexpectedName
    /// A symbolic link in place of the manifest, before anything else.
    case symlinkFirst

    public var description: String { rawValue }

    /// Codes a reader may refuse this payload with.
    public var expectedCodes: Set<BundleError.Code> {
        switch self {
        case .gigabyteOfZeros, .justOverEntryLimit, .hundredThousandEntries, .hugeManifest: [.limitExceeded]
        default: [.unsafeArchive]
        }
    }

    /// Name of the first batch entry for a table called `table`.
    public static func batchName(_ number: Int, table: String = "samples") -> String {
        let digits = String(number)
        return "batches/" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".\(table).tsv"
    }

    /// Writes the payload into `builder` and finishes it.
    public func write(manifest: [UInt8], to builder: ArchiveBuilder) throws {
        if self != .symlinkFirst && self != .hugeManifest {
            try builder.addFile("manifest.json", bytes: manifest)
        }
        let batch = Self.batchName(1)
        switch self {
        case .absolutePath: try builder.addFile("/etc/passwd", text: "root::0:0::/:/bin/sh\n")
        case .parentDirectory: try builder.addFile("../../etc/cron.d/fieldsync", text: "* * * * * root id\n")
        case .parentInsideBatches: try builder.addFile("batches/../../outside.tsv", text: "x\n")
        case .dotComponent: try builder.addFile("./" + batch, text: "")
        case .backslashPath: try builder.addFile("batches\\..\\..\\evil.tsv", text: "")
        case .overlongPath: try builder.addFile("batches/" + String(repeating: "a", count: 300) + ".tsv", text: "")
        case .symlink: try builder.addSymlink(batch, target: "/etc/passwd")
        case .relativeSymlink: try builder.addSymlink(batch, target: "../../../../etc/passwd")
        case .hardlink: try builder.addHardlink(batch, target: "manifest.json")
        case .directory: try builder.addSpecial("batches/", type: .directory)
        case .fifo: try builder.addSpecial(batch, type: .fifo)
        case .characterDevice: try builder.addSpecial(batch, type: .characterDevice)
        case .gigabyteOfZeros: try builder.addZeros(batch, size: 1 << 30)
        case .justOverEntryLimit: try builder.addZeros(batch, size: (64 << 20) + 1)
        case .hundredThousandEntries:
            for number in 1...100_000 { try builder.addFile(Self.batchName(number), bytes: []) }
        case .hugeManifest: try builder.addZeros("manifest.json", size: 17 << 20)
        case .unexpectedName: try builder.addFile("notes.txt", text: "hello\n")
        case .symlinkFirst: try builder.addSymlink("manifest.json", target: "/etc/passwd")
        }
        try builder.finish()
    }
}
