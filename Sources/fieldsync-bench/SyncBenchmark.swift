import ArgumentParser
import Foundation
import Logging

/// `fieldsync-bench sync`: hub ingest, site apply and site export, each against a limit measured in the same run.
struct SyncBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Measures hub ingest and site apply against raw SQLite inserts, and export cost against table size.",
        discussion: """
            Site A's application inserts --rows generated 'beneficiaries' rows (8 columns, ~1.1 KB per row) with \
            capture on and exports them; the hub ingests that bundle (timed: HubEngine.importBundle, one \
            transaction) and writes a return bundle for a new site B, which applies it (timed: \
            SiteEngine.importBundle: verify, decrypt, decode, apply in one transaction). Each is held against a \
            raw SQLite insert of the same rows in the same order, in one transaction, into a fresh database with \
            the same table definition and indexes, journal mode, synchronous and cache_size settings (generation \
            excluded). Then sites of --export-small and --export-large rows, all acknowledged, each export one \
            changed row --export-runs times, alternating, after sync() and one untimed export each; the best times \
            are compared. Peak memory is VmHWM, reset per phase. Goals are reported as PASS or MISS; a miss never \
            changes the exit status.
            """)

    @Option(help: "New rows for the hub ingest and site apply measurements.")
    var rows = 100_000

    @Option(help: "Seed of the generated rows.")
    var seed: UInt64 = 2024

    @Option(name: .customLong("repeat"), help: "Runs of the ingest and apply measurements; the best time is kept.")
    var repetitions = 1

    @Option(help: "Rows of the small table for the one-change export.")
    var exportSmall = 10_000

    @Option(help: "Rows of the large table for the one-change export.")
    var exportLarge = 1_000_000

    @Option(help: "Exports timed per table size; the best is compared.")
    var exportRuns = 15

    @Option(
        help: ArgumentHelp(
            "PRAGMA cache_size for the hub's and site B's connections and their limits (what-if; default: SQLite's).",
            discussion: "Pages, or KiB when negative, as SQLite takes it: -65536 is 64 MiB."))
    var cacheSize: Int?

    @Option(help: "Parent directory for the temporary databases and bundles (default: the system's temp directory).")
    var directory: String?

    @Flag(inversion: .prefixedNo, help: "Run a small untimed round first so the first measurement is not cold.")
    var warmup = true

    @Flag(help: "Print JSON only, for scripts.")
    var json = false

    func validate() throws {
        guard rows >= 1, exportSmall >= 1, exportLarge >= 1 else {
            throw ValidationError("row counts must be positive")
        }
        guard repetitions >= 1, exportRuns >= 1 else {
            throw ValidationError("--repeat and --export-runs must be ≥ 1")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        var logger = Logger(label: "fieldsync.bench")
        logger.logLevel = .warning
        var memory = PeakMemory()
        let loadBefore = LoadAverage.read()
        if !json {
            print(Self.preamble)
            print("load average before: \(loadBefore) (on \(LoadAverage.cores) cores)\n")
        }
        if warmup {
            _ = try SyncExchange(rows: 2_000, seed: seed, directory: directory, cacheSize: cacheSize, logger: logger)
                .measure(repetitions: 1, memory: &memory)
        }
        let exchange = try SyncExchange(
            rows: rows, seed: seed, directory: directory, cacheSize: cacheSize, logger: logger
        )
        .measure(repetitions: repetitions, memory: &memory)
        let (small, large) = try SyncExportScaling(seed: seed, directory: directory, logger: logger)
            .measure(small: exportSmall, large: exportLarge, runs: exportRuns, memory: &memory)
        let report = SyncReport(rows: rows, repetitions: repetitions, exchange: exchange, small: small, large: large)
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let document = SyncJSONReport(
                benchmark: "sync", table: BeneficiaryGenerator.tableName, seed: seed,
                memorySource: memory.source.rawValue, cores: LoadAverage.cores, loadAverageBefore: loadBefore,
                loadAverageAfter: LoadAverage.read(), result: report)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        } else {
            print(report.table())
            print("")
            print(
                "memory source: \(memory.source.rawValue). load average after: \(LoadAverage.read()); a load above "
                    + "the core count means other processes shared the cores: compare the CPU-time ratios")
        }
    }

    private static let preamble = """
        fieldsync-bench sync — table beneficiaries (8 columns, ~1.1 KB/row), rows generated in blocks of 1,000
        Only the library calls (and, for the limits, prepare + BEGIN + bind/step + COMMIT) are timed; "excluded s" \
        is generation time left out. Limits: the same rows in the same order, plain SQLite C API, one prepared \
        INSERT, one transaction, fresh database with the store's table definition, indexes, journal mode, \
        synchronous and cache_size settings. Peak MB = resident high-water mark of the whole process during the \
        phase; "start MB" is what was resident when it began.

        """
}

/// The `--json` document of `fieldsync-bench sync`.
struct SyncJSONReport: Codable {
    var benchmark: String
    var table: String
    var seed: UInt64
    var memorySource: String
    var cores: Int
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run started and ended: other load skews wall-clock numbers.
    var loadAverageBefore: String
    var loadAverageAfter: String
    var result: SyncReport
}
