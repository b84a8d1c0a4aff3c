import ArgumentParser
import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Foundation

extension BundleCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write bundles: a site's changes for the hub, or the hub's return bundles for its sites.",
            discussion: """
                At a site, writes one delta bundle with every local change the hub has not acknowledged yet \
                (default folder: the node's outbox). When there is nothing to send (no change waiting for the hub's \
                acknowledgement, and no return bundle applied since the last bundle), writes nothing and says so; \
                --force writes a bundle anyway. At the hub, writes one return bundle per registered site, or for the \
                sites given with --site (repeat it for several; default folder: outbox/SITE/).

                Parts: a bundle larger than --part-size (default: 'part_size_limit' in fieldsync.json, else \
                4,000,000,000 bytes, below FAT32's limit) is split into NAME.1-of-N.fsb files. A failed export \
                removes what it wrote; unfinished *.fsb.part files that an interrupted export left in the outbox \
                are removed by the next export, which names them.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Option(help: "Write bundles into this folder instead of the outbox.")
        var out: String?

        @Option(
            name: .customLong("site"), help: "Hub only: write the return bundle for this site only; repeat for more.")
        var sites: [String] = []

        @Option(
            name: .customLong("part-size"),
            help: ArgumentHelp(
                "Largest part file: bytes, or a number with K, M, G or T (powers of 1024), e.g. 3.9G, 650M, 1024K.",
                valueName: "size"),
            transform: { try PartSize.parse($0, option: "--part-size") })
        var partSize: Int64?

        @Flag(help: "Site only: write a bundle even when there is nothing to send.")
        var force = false

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                var node = try NodeDirectory.load(dir)
                if let partSize { node.configuration.partSizeLimit = partSize }
                guard out == nil else { return try export(node) }
                let lock = try OutboxLock(outbox: node.outboxDirectory)
                defer { lock.release() }
                let folders = [node.outboxDirectory] + (node.configuration.role == .hub ? subfolders(node) : [])
                reportSwept(OutboxLock.sweep(folders))
                try export(node)
            }
        }

        /// The per-site folders of the hub's outbox.
        private func subfolders(_ node: NodeDirectory) -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: node.outboxDirectory)) ?? []
            return names.sorted().map { "\(node.outboxDirectory)/\($0)" }.filter {
                var isFolder: ObjCBool = false
                return FileManager.default.fileExists(atPath: $0, isDirectory: &isFolder) && isFolder.boolValue
            }
        }

        private func export(_ node: NodeDirectory) throws {
            switch node.configuration.role {
            case .site:
                guard sites.isEmpty else {
                    throw ValidationError("--site is for the hub; a site writes its one bundle for its hub")
                }
                let engine = try node.siteEngine()
                if !force, try engine.store.hasNothingToSend() {
                    if json {
                        try printJSON([ExportReport]())
                    } else {
                        print(
                            "Nothing to send: every change here has been acknowledged by the hub, and no return "
                                + "bundle was applied since the last bundle. No bundle written (--force writes one).")
                    }
                    return
                }
                let directory = out ?? node.outboxDirectory
                try Files.makeFolder(directory)
                let export = try engine.export(template: node.writerTemplate(directory: directory))
                let report = ExportReport(
                    to: node.configuration.hub ?? "", sequence: export.bundle.header.sequence,
                    files: export.bundle.paths, bytes: export.bundle.bytes, rows: export.changes)
                if json { try printJSON([report]) } else { report.print() }
                for problem in export.problems {
                    printWarning(
                        "\(problem.table) \(problem.key) was left out of the bundle: \(problem.reason). Fix the "
                            + "row; it stays pending and goes in the next bundle")
                }
            case .hub:
                guard !force else { throw ValidationError("--force is for a site; the hub writes every time") }
                let engine = try node.hubEngine()
                let registered = try engine.store.sites().map(\.id)
                for site in sites where !registered.contains(site) {
                    throw ValidationError(
                        "'\(site)' is not a registered site; register it with 'fieldsync hub add-site'")
                }
                // Each site once, in the order given (a site named twice gets one bundle).
                var targets: [String] = []
                for site in sites.isEmpty ? registered : sites where !targets.contains(site) {
                    targets.append(site)
                }
                var reports: [ExportReport] = []
                for site in targets {
                    let directory = out ?? "\(node.outboxDirectory)/\(site)"
                    try Files.makeFolder(directory)
                    let result = try engine.exportReturn(
                        for: site, template: node.writerTemplate(directory: directory))
                    let report = ExportReport(
                        to: site, sequence: result.bundle.header.sequence, files: result.bundle.paths,
                        bytes: result.bundle.bytes, rows: result.rows,
                        outcomes: result.plan.outcomes.filter { $0.kind != .resend }.count)
                    if !json { report.print() }
                    reports.append(report)
                }
                if json { try printJSON(reports) }
                if targets.isEmpty && !json { print("No sites are registered; nothing to write.") }
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify and apply bundles: sites' bundles at the hub, return bundles at a site.",
            discussion: """
                Each bundle is checked against its sender's key before anything in it is decrypted, then applied in \
                one transaction. A repeated or older bundle changes nothing and is reported as such. Bundles are \
                applied in sequence order whatever the order of the files given. Exits 1 if any bundle was refused.

                With --from DIR, or with no files at all (then DIR is the node's inbox, 'inbox' in fieldsync.json), \
                takes every bundle file (*.fsb) in DIR, ignoring *.part files (still being written) and other \
                files. Each bundle applied (or found applied already) is then moved to bundles/processed/, each \
                refused one to bundles/rejected/ with NAME.reason beside it; a split bundle with parts still \
                missing, or one that failed for a passing cause (the store unreachable, a full disk), stays in DIR \
                for the next run. Files named on the command line are never moved.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Option(
            help: ArgumentHelp(
                "Take every bundle in this folder and move each one when done (default with no files: the inbox).",
                valueName: "folder"))
        var from: String?

        @Argument(help: "Bundle files (.fsb); for a split bundle, its parts (or one of them).")
        var files: [String] = []

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let node = try reportingErrors(json: json) { try NodeDirectory.load(dir) }
            if from != nil && !files.isEmpty {
                throw ValidationError("give either bundle files or --from FOLDER, not both")
            }
            let folder = files.isEmpty ? (from ?? node.inboxDirectory) : nil
            let given = try reportingErrors(json: json) { try folder.map(Drop.bundleFiles(in:)) ?? files }
            if let folder, given.isEmpty, !json { print("No bundles in \(folder); nothing to import.") }
            var refused = 0
            var entries: [ImportEntry] = []
            /// Prints and counts a file (or a bundle's parts) refused with `error`; from a folder, files it away.
            func refuse(_ files: [String], _ error: any Error) {
                var report = ErrorReport(error)
                if report.file == nil || report.domain == "store" { report.file = files[0] }
                if folder != nil, Drop.waitsForParts(error) {
                    if !json { print("\(files[0]): \(report.message); left in place until every part is there") }
                    entries.append(.waiting(WaitingImport(file: files[0], files: files, reason: report.message)))
                    return
                }
                printError(report.text)
                var entry = RefusedImport(file: files[0], files: files, error: report)
                if folder != nil {
                    if Drop.isPassing(report) {
                        printError("\(files[0]) stays where it is; import it again once the cause is fixed")
                    } else {
                        entry.movedTo = moving(files, to: node.rejectedDirectory, reason: report.text)
                        if let moved = entry.movedTo?.first, !json {
                            print("\(files[0]): moved to \((moved as NSString).deletingLastPathComponent)/")
                        }
                    }
                }
                entries.append(.refused(entry))
                refused += 1
            }
            /// From a folder, moves `files` to `destination` (and writes a reason file beside a refused one);
            /// returns where they went. A move that fails is reported and leaves the file where it was.
            func moving(_ files: [String], to destination: String, reason: String? = nil) -> [String]? {
                guard folder != nil else { return nil }
                do {
                    return try Drop.move(files, to: destination, reason: reason)
                } catch {
                    printError(ErrorReport(error).text)
                    refused += 1
                    return nil
                }
            }
            let sorted = Self.groups(given)
            for (file, error) in sorted.unreadable {
                node.logUnreadableBundle(file, error)
                refuse([file], error)
            }
            for group in sorted.bundles {
                do {
                    if folder != nil {
                        // A split bundle still arriving waits, without a refusal in the node's log.
                        do {
                            _ = try BundleReader(paths: group)
                        } catch let error where Drop.waitsForParts(error) {
                            refuse(group, error)
                            continue
                        } catch {
                            // Any other fault is found and reported by the import itself.
                        }
                    }
                    var result: ImportResult
                    switch node.configuration.role {
                    case .hub:
                        let report = try node.hubEngine().importBundle(paths: group)
                        result = ImportResult(
                            file: group[0], files: group, status: report.status.rawValue, from: report.site,
                            sequence: report.sequence,
                            applied: report.applied, unchanged: report.unchanged, conflicts: report.conflicts,
                            rejected: report.rejected, keptLocal: nil, missed: report.missedSequences.map(Self.text),
                            pending: report.pendingConflicts, clockOffset: report.clockOffset)
                    case .site:
                        let report = try node.siteEngine().importBundle(paths: group)
                        result = ImportResult(
                            file: group[0], files: group, status: report.status.rawValue,
                            from: node.configuration.hub ?? "",
                            sequence: report.sequence, applied: report.applied, unchanged: nil,
                            conflicts: report.outcomes.filter { $0.kind == .conflictHubKept }.count,
                            rejected: report.outcomes.filter { $0.kind == .rejected || $0.kind == .rejectedKept }.count,
                            keptLocal: report.keptLocal,
                            missed: report.missedSequences.map(Self.text),
                            pending: report.outcomes.filter { $0.kind == .conflictPending }.count,
                            siteOutcomes: SiteConflictOutcomes(report.outcomes.map(\.kind)),
                            notTracked: report.untracked.isEmpty ? nil : report.untracked,
                            setAside: report.setAside.isEmpty ? nil : report.setAside)
                    }
                    // The reader may have found the other parts beside the one given.
                    let parts = (try? BundleReader(paths: group).partPaths) ?? group
                    result.movedTo = moving(parts, to: node.processedDirectory)
                    if !json { result.print() }
                    entries.append(.imported(result))
                } catch let error as ExitCode {
                    throw error
                } catch {
                    refuse(group, error)
                }
            }
            if json { try printJSON(entries) }
            if refused > 0 { throw refusedExitCode }
        }

        static func text(_ range: ClosedRange<UInt64>) -> String {
            range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)-\(range.upperBound)"
        }

        /// The files grouped by bundle (parts together), ordered by sender and sequence, and the files that could
        /// not be read as a bundle part at all, each with its error.
        static func groups(_ files: [String]) -> (bundles: [[String]], unreadable: [(String, any Error)]) {
            var byBundle: [String: (header: BundleHeader, paths: [String])] = [:]
            var unreadable: [(String, any Error)] = []
            for file in files {
                do {
                    let info = try BundleReader.inspectPart(at: file)
                    byBundle[info.header.bundleID, default: (info.header, [])].paths.append(file)
                } catch {
                    unreadable.append((file, error))
                }
            }
            let bundles = byBundle.values.sorted {
                ($0.header.sender, $0.header.sequence) < ($1.header.sender, $1.header.sequence)
            }.map(\.paths)
            return (bundles, unreadable)
        }
    }
}

struct ExportReport: Encodable {
    var to: String
    var sequence: UInt64
    var files: [String]
    var bytes: Int64
    var rows: Int
    var outcomes: Int?

    func print() {
        var line = "Wrote bundle \(sequence) for \(to): \(rows) change\(rows == 1 ? "" : "s")"
        if let outcomes, outcomes > 0 { line += ", \(outcomes) outcome\(outcomes == 1 ? "" : "s") of its rows" }
        line += ", \(formatBytes(bytes))"
        Swift.print(line)
        for file in files { Swift.print("  \(file)") }
    }
}

/// One entry of `bundle import --json`: a bundle applied (or found already applied), or files refused.
enum ImportEntry: Encodable {
    case imported(ImportResult)
    case refused(RefusedImport)
    case waiting(WaitingImport)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .imported(let result): try result.encode(to: encoder)
        case .refused(let refusal): try refusal.encode(to: encoder)
        case .waiting(let waiting): try waiting.encode(to: encoder)
        }
    }
}

/// A split bundle in a folder that `bundle import --from` left in place because parts of it are missing.
struct WaitingImport: Encodable {
    var file: String
    var files: [String]
    var status = "waiting"
    var reason: String
}

/// A bundle (or a file that is not one) that `bundle import` refused: nothing of it was applied.
struct RefusedImport: Encodable {
    var file: String
    /// Every part file of the bundle given on the command line.
    var files: [String]
    var status = "refused"
    var error: ErrorReport
    /// From a folder: where the files were moved (`bundles/rejected/`); `nil` when they stay where they were.
    var movedTo: [String]? = nil
}

struct ImportResult: Encodable {
    var file: String
    /// Every part file of the bundle given on the command line.
    var files: [String]
    var status: String
    var from: String
    var sequence: UInt64
    var applied: Int
    var unchanged: Int?
    var conflicts: Int
    var rejected: Int
    var keptLocal: Int?
    var missed: String?
    /// Conflicts waiting for a person (at a site: its changes waiting for a decision at the hub).
    var pending: Int?
    /// Hub: seconds the site's clock was found off and corrected by.
    var clockOffset: Double?
    /// Site: how the hub settled this site's conflicting changes.
    var siteOutcomes: SiteConflictOutcomes?
    /// Site: hub changes for tables this site does not track, by table; not applied.
    var notTracked: [String: Int]? = nil
    /// Site: hub changes not applied because they would break a constraint (a foreign key, a CHECK) here.
    var setAside: [ImportProblem]? = nil
    /// From a folder: where the files were moved (`bundles/processed/`).
    var movedTo: [String]? = nil

    enum CodingKeys: String, CodingKey {
        case file, files, status, from, sequence, applied, unchanged, conflicts, rejected, keptLocal, missed, pending
        case clockOffset, notTracked, setAside, movedTo
    }

    func print() {
        let name = (file as NSString).lastPathComponent
        switch status {
        case "already_applied":
            Swift.print("\(name): bundle \(sequence) from \(from) was already applied; nothing to do")
        case "superseded":
            Swift.print(
                "\(name): bundle \(sequence) from \(from) is superseded by a newer bundle already applied; "
                    + "nothing to do")
        default:
            var parts = ["\(applied) applied"]
            if let unchanged, unchanged > 0 { parts.append("\(unchanged) unchanged") }
            if let keptLocal, keptLocal > 0 { parts.append("\(keptLocal) kept for newer local edits") }
            if let siteOutcomes {
                parts += siteOutcomes.phrases
            } else {
                let settled = conflicts - (pending ?? 0)
                if settled > 0 {
                    parts.append("\(settled) conflict\(settled == 1 ? "" : "s") settled by the table's rule")
                }
                if let pending, pending > 0 {
                    parts.append(
                        "\(pending) conflict\(pending == 1 ? "" : "s") waiting for a decision "
                            + "(fieldsync conflicts list --pending)")
                }
            }
            if rejected > 0 { parts.append("\(rejected) rejected (see fieldsync status)") }
            Swift.print("\(name): applied bundle \(sequence) from \(from): \(parts.joined(separator: ", "))")
        }
        if let clockOffset {
            Swift.print(
                "  note: the clock of \(from) was \(Int(abs(clockOffset).rounded())) s "
                    + "\(clockOffset > 0 ? "behind" : "ahead"); its edit times were corrected")
        }
        for (table, count) in (notTracked ?? [:]).sorted(by: { $0.key < $1.key }) {
            Swift.print(
                "  note: \(count) change\(count == 1 ? "" : "s") for table \(table), which this site does not track, "
                    + "\(count == 1 ? "was" : "were") not applied (to take the table: fieldsync site add-table \(table))"
            )
        }
        for problem in setAside ?? [] {
            Swift.print("  set aside: \(problem.table) \(problem.key): \(problem.reason)")
        }
        if let missed {
            Swift.print(
                "  note: bundle\(missed.contains("-") ? "s" : "") \(missed) from \(from) never arrived; "
                    + "nothing is lost, this bundle carries their changes")
        }
        if let movedTo, let first = movedTo.first {
            Swift.print("  moved to \((first as NSString).deletingLastPathComponent)/")
        }
    }
}

/// How the hub settled a site's conflicting changes, counted from a return bundle's outcomes.
struct SiteConflictOutcomes {
    var hubKept = 0
    var siteApplied = 0
    var merged = 0
    var pending = 0
    var resolved = 0

    init(_ kinds: [RowOutcome.Kind]) {
        for kind in kinds {
            switch kind {
            case .conflictHubKept: hubKept += 1
            case .conflictSiteApplied: siteApplied += 1
            case .conflictMerged: merged += 1
            case .conflictPending: pending += 1
            case .resolved: resolved += 1
            default: break
            }
        }
    }

    var phrases: [String] {
        func count(_ number: Int) -> String { "\(number) conflict\(number == 1 ? "" : "s")" }
        var parts: [String] = []
        if hubKept > 0 { parts.append("\(count(hubKept)) (hub kept its row)") }
        if siteApplied > 0 { parts.append("\(count(siteApplied)) (the hub took this site's version)") }
        if merged > 0 { parts.append("\(count(merged)) (merged at the hub)") }
        if pending > 0 { parts.append("\(count(pending)) waiting for a decision at the hub") }
        if resolved > 0 { parts.append("\(count(resolved)) decided at the hub") }
        return parts
    }
}
