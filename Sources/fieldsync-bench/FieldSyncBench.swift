import ArgumentParser

/// `fieldsync-bench`: throughput and memory measurements that tests never assert.
@main
struct FieldSyncBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldsync-bench",
        abstract: "Measures FieldSync's throughput and memory against the limits of the libraries it builds on.",
        subcommands: [BundleBenchmark.self, SyncBenchmark.self, PostgresBenchmark.self])
}
