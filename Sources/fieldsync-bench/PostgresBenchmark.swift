import ArgumentParser
import Foundation
import Logging

/// `fieldsync-bench postgres`: the PostgreSQL hub's ingest and return export against raw `COPY` in the same
/// database, and return-export cost against table size.
struct PostgresBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Measures the PostgreSQL hub's ingest and return export against raw COPY in the same database.",
        discussion: """
            Creates fresh databases (and drops them at the end) on the server given by --url, \
            FIELDSYNC_TEST_POSTGRES_URL or the PG* variables. (1) HubEngine.importBundle of a site bundle of --rows \
            new beneficiaries rows through PostgresHubStore (the COPY staging path), next to a raw COPY … FROM STDIN \
            of the same rows into a table of the same shape and indexes (primary key, sync_version index, sync \
            columns, no triggers) in the same database; goal ratio ≥ 0.5. (2) the same for a bundle of --rows \
            updated rows (every row changed once at the site: the row-by-row path); ratio reported, no goal. \
            (3) HubEngine.exportReturn of every row for a new, empty site. (4) one changed row exported \
            (exportReturn) from a hub table of 10^4 and of 10^6 rows, built with raw COPY through the stamping \
            triggers and acknowledged in sync_control.client_state.last_sync_version; best of --export-runs, \
            goal: large/small ≤ 2. A miss never changes the exit status.
            """)

    @Option(help: "Rows of the ingest and return-export measurements.")
    var rows = 100_000

    @Option(help: "libpq URL or conninfo (default: FIELDSYNC_TEST_POSTGRES_URL, else the PG* variables).")
    var url: String?

    @Option(help: "Seed of the generated rows.")
    var seed: UInt64 = 2024

    @Option(help: "Rows of the small table for the one-change export.")
    var exportSmall = 10_000

    @Option(help: "Rows of the large table for the one-change export.")
    var exportLarge = 1_000_000

    @Option(help: "Exports timed per table size; the best is compared.")
    var exportRuns = 5

    @Option(help: "Parent directory for the temporary site databases and bundles.")
    var directory: String?

    @Flag(help: "Print JSON only, for scripts.")
    var json = false

    func validate() throws {
        guard rows >= 1, exportSmall >= 1, exportLarge >= 1, exportRuns >= 1 else {
            throw ValidationError("counts must be positive")
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
        let conninfo = url ?? ProcessInfo.processInfo.environment["FIELDSYNC_TEST_POSTGRES_URL"] ?? ""
        let loadBefore = LoadAverage.read()
        if !json {
            print(
                "fieldsync-bench postgres — table beneficiaries (8 columns, ~1.1 KB/row), \(rows) rows, "
                    + "load average before: \(loadBefore) (on \(LoadAverage.cores) cores)\n")
        }
        let databases = try PostgresScratchDatabases(conninfo: conninfo)
        defer { databases.dropAll() }
        var memory = PeakMemory()
        let progress: (String) -> Void = json ? { _ in } : { print("  … \($0)") }
        let exchange = try PostgresExchange(
            rows: rows, seed: seed, directory: directory, databases: databases, logger: logger
        ).measure(memory: &memory, progress: progress)
        let scaling = try PostgresExportScaling(seed: seed, directory: directory, databases: databases, logger: logger)
            .measure(small: exportSmall, large: exportLarge, runs: exportRuns, progress: progress)
        let report = PostgresReport(
            rows: rows, serverVersion: databases.serverVersion, exchange: exchange, small: scaling.small,
            large: scaling.large)
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let document = PostgresJSONReport(
                benchmark: "postgres", table: BeneficiaryGenerator.tableName, seed: seed,
                cores: LoadAverage.cores, loadAverageBefore: loadBefore, loadAverageAfter: LoadAverage.read(),
                result: report)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        } else {
            print("")
            print(report.table())
            print("\nload average after: \(LoadAverage.read()) (on \(LoadAverage.cores) cores)")
        }
    }
}

/// The `--json` document of `fieldsync-bench postgres`.
struct PostgresJSONReport: Codable {
    var benchmark: String
    var table: String
    var seed: UInt64
    var cores: Int
    var loadAverageBefore: String
    var loadAverageAfter: String
    var result: PostgresReport
}
