import FieldSyncCore

/// Hands out the generated rows a block at a time, timing the generation on its own stopwatch.
///
/// Rows are never all held at once: a block of 1,000 rows (~1.1 MB) is made, then the timed pipeline consumes
/// it, then the next block replaces it. Only the pipeline calls are timed, so generation cost is excluded from
/// every throughput figure while memory stays bounded for any row count.
struct RowBlocks {
    static let blockSize = 1000

    private var generator: BeneficiaryGenerator
    private let rows: Int
    private var produced = 0
    /// The current block.
    private(set) var block: [Change] = []
    /// Time spent generating, kept out of the measurements.
    private(set) var generation = Stopwatch()

    init(rows: Int, seed: UInt64) {
        generator = BeneficiaryGenerator(seed: seed)
        self.rows = rows
        block.reserveCapacity(Self.blockSize)
    }

    /// Replaces ``block`` with the next rows; false once all rows have been handed out.
    mutating func next() -> Bool {
        guard produced < rows else {
            block = []
            return false
        }
        let count = min(Self.blockSize, rows - produced)
        let first = produced
        generation.time {
            block.removeAll(keepingCapacity: true)
            for index in first..<first + count { block.append(generator.change(at: index)) }
        }
        produced += count
        return true
    }
}
