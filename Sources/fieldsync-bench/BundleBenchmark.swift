import ArgumentParser
import FieldSyncBundle
import Foundation

/// `fieldsync-bench bundle`: bundle write and read throughput, size and memory, against the limit of plain
/// zstd + secretstream on the same bytes in the same run.
struct BundleBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Measures bundle write/read against plain zstd + secretstream on the same rows.",
        discussion: """
            For each row count, generates the 'beneficiaries' table (8 columns, ~1.1 KB per row, deterministic \
            for --seed) in blocks of 1,000 rows and times only the pipeline calls on each block, never the \
            generation, so no row count is ever held in memory whole. Phases: bundle write, bundle read (verify, \
            open, decode every change), limit write (the same COPY text through streaming zstd at level 3 and \
            secretstream in 64 KiB chunks to a file, fsynced), limit read. Peak memory is VmHWM, reset per phase \
            through /proc/self/clear_refs. MB = 10^6 bytes of uncompressed COPY text. Goals are reported as \
            PASS or MISS; a miss never changes the exit status.
            """)

    struct RowCounts: ExpressibleByArgument {
        var values: [Int]

        init?(argument: String) {
            var values: [Int] = []
            for part in argument.split(separator: ",") {
                let cleaned = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
                guard let value = Int(cleaned), value > 0 else { return nil }
                values.append(value)
            }
            guard !values.isEmpty else { return nil }
            self.values = values
        }

        init(_ values: [Int]) { self.values = values }

        var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
    }

    @Option(help: "Comma-separated row counts.")
    var rows = RowCounts([10_000, 100_000, 1_000_000])

    @Option(help: "Seed of the generated rows.")
    var seed: UInt64 = 2024

    @Option(name: .customLong("repeat"), help: "Runs per row count; the best time and the highest peak are kept.")
    var repetitions = 1

    @Option(help: "Parent directory for the temporary bundle directories (default: the system's temp directory).")
    var directory: String?

    @Flag(inversion: .prefixedNo, help: "Run a small untimed round first so the first measurement is not cold.")
    var warmup = true

    @Flag(help: "Print JSON only, for scripts.")
    var json = false

    static let compressionLevel = 3
    static let chunkSize = 64 << 10

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        var memory = PeakMemory()
        let bundle = try BundlePipeline()
        let limit = try LimitPipeline(level: Self.compressionLevel, chunkSize: Self.chunkSize)
        let loadBefore = LoadAverage.read()
        if !json {
            print(Self.preamble)
            print("load average before: \(loadBefore) (on \(LoadAverage.cores) cores)\n")
        }
        if warmup {
            _ = try measure(rows: 2_000, repetitions: 1, bundle: bundle, limit: limit, memory: &memory)
        }
        var reports: [BundleReport] = []
        for count in rows.values {
            let report = try measure(
                rows: count, repetitions: repetitions, bundle: bundle, limit: limit, memory: &memory)
            reports.append(report)
            if !json {
                print(report.table())
                print("")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let document = JSONReport(
                benchmark: "bundle", table: BeneficiaryGenerator.tableName, seed: seed,
                compressionLevel: Self.compressionLevel, chunkSize: Self.chunkSize, megabyte: 1_000_000,
                memorySource: memory.source.rawValue, zstdVersion: Zstd.version(), cores: LoadAverage.cores,
                loadAverageBefore: loadBefore, loadAverageAfter: LoadAverage.read(), runs: reports)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        } else {
            print(Self.summary(reports, memorySource: memory.source))
            print(
                "load average after: \(LoadAverage.read()); a load above the core count means other processes "
                    + "shared the cores: compare the CPU-time ratios")
        }
    }

    private func measure(
        rows: Int, repetitions: Int, bundle: BundlePipeline, limit: LimitPipeline, memory: inout PeakMemory
    ) throws -> BundleReport {
        var best: (bundleWrite: Phase, bundleRead: Phase, limitWrite: Phase, limitRead: Phase)?
        var written: (bundle: BundlePipeline.Written, limit: LimitPipeline.Written)?
        for _ in 0..<repetitions {
            let scratch = try ScratchDirectory(parent: directory)
            let bundleWritten = try bundle.write(rows: rows, seed: seed, directory: scratch.path, memory: &memory)
            let bundleRead = try bundle.read(bundleWritten, rows: rows, memory: &memory)
            for path in bundleWritten.paths { try? FileManager.default.removeItem(atPath: path) }
            let limitWritten = try limit.write(
                rows: rows, seed: seed, path: scratch.path + "/limit.bin", memory: &memory)
            let limitRead = try limit.read(limitWritten, memory: &memory)
            guard limitWritten.payloadBytes == bundleWritten.payloadBytes else {
                throw BenchError(
                    "the reference COPY text (\(limitWritten.payloadBytes) B) differs from the bundle's batches "
                        + "(\(bundleWritten.payloadBytes) B): the benchmark's encoder no longer matches copy-text-1")
            }
            let phases = (bundleWritten.phase, bundleRead, limitWritten.phase, limitRead)
            if let previous = best {
                best = (
                    previous.bundleWrite.best(with: phases.0), previous.bundleRead.best(with: phases.1),
                    previous.limitWrite.best(with: phases.2), previous.limitRead.best(with: phases.3)
                )
            } else {
                best = phases
            }
            written = (bundleWritten, limitWritten)
        }
        return BundleReport(
            rows: rows, repetitions: repetitions, bundle: written!.bundle, limit: written!.limit, phases: best!)
    }

    private static let preamble = """
        fieldsync-bench bundle — table beneficiaries (8 columns, ~1.1 KB/row), zstd level \(compressionLevel), \
        secretstream chunks of \(chunkSize >> 10) KiB, batches of 8 MiB
        Rows are generated in blocks of 1,000 and only the pipeline calls on each block are timed ("excluded s" is \
        the generation time left out; for the limit it includes COPY encoding). MB = 10^6 bytes of uncompressed \
        COPY text. Peak MB = resident memory high-water mark of the whole process during the phase; "start MB" \
        is what was resident when the phase began.

        """

    private static func summary(_ reports: [BundleReport], memorySource: PeakMemory.Source) -> String {
        var lines = ["== summary (MB/s; peak memory in MB; memory source: \(memorySource.rawValue)) =="]
        lines.append(
            lpad("rows", 10) + lpad("write", 8) + lpad("limit", 8) + lpad("ratio", 7) + lpad("read", 8)
                + lpad("limit", 8) + lpad("ratio", 7) + lpad("B/row", 8) + lpad("size÷zstd", 10)
                + lpad("w peak", 8) + lpad("r peak", 8) + "  goals")
        for report in reports {
            let misses = report.goals.filter { !$0.pass }.map(\.name)
            lines.append(
                lpad(group(report.rows), 10) + lpad(fixed(report.bundleWrite.megabytesPerSecond, 1), 8)
                    + lpad(fixed(report.limitWrite.megabytesPerSecond, 1), 8) + lpad(fixed(report.writeRatio, 2), 7)
                    + lpad(fixed(report.bundleRead.megabytesPerSecond, 1), 8)
                    + lpad(fixed(report.limitRead.megabytesPerSecond, 1), 8) + lpad(fixed(report.readRatio, 2), 7)
                    + lpad(fixed(report.bundleBytesPerRow, 1), 8) + lpad(fixed(report.sizeRatio, 3), 10)
                    + lpad(fixed(report.bundleWrite.peakMemoryMB, 1), 8)
                    + lpad(fixed(report.bundleRead.peakMemoryMB, 1), 8)
                    + "  " + (misses.isEmpty ? "all PASS" : "MISS: " + misses.joined(separator: ", ")))
        }
        return lines.joined(separator: "\n")
    }
}

/// The `--json` document.
struct JSONReport: Codable {
    var benchmark: String
    var table: String
    var seed: UInt64
    var compressionLevel: Int
    var chunkSize: Int
    var megabyte: Int
    var memorySource: String
    var zstdVersion: String
    var cores: Int
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run started and ended: other load skews wall-clock numbers.
    var loadAverageBefore: String
    var loadAverageAfter: String
    var runs: [BundleReport]
}
