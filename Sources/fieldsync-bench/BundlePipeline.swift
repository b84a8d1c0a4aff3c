import FieldSyncBundle
import FieldSyncCore

/// Writes and reads a real bundle of the generated rows through the public FieldSyncBundle API.
struct BundlePipeline {
    struct Written {
        var phase: Phase
        var paths: [String]
        var fileBytes: Int64
        /// Uncompressed COPY-text bytes of all batches, from the batch index.
        var payloadBytes: Int
        var batches: Int
    }

    let site: NodeKeys
    let hub: NodeKeys

    init() throws {
        site = try NodeKeys.generate(id: BeneficiaryGenerator.origin)
        hub = try NodeKeys.generate(id: "hub")
    }

    /// Timed: creating the writer, every `append`, and `finish` (which writes the index, flushes zstd, encrypts
    /// the last chunk, signs, fsyncs and renames). Not timed: making the rows.
    func write(rows: Int, seed: UInt64, directory: String, memory: inout PeakMemory) throws -> Written {
        var blocks = RowBlocks(rows: rows, seed: seed)
        var clock = Stopwatch()
        memory.reset()
        let start = memory.current()
        let writer = try clock.time {
            try BundleWriter(
                configuration: .init(kind: .delta, sequence: 1, directory: directory),
                tables: [BeneficiaryGenerator.schema], sender: site, recipient: hub.identity)
        }
        while blocks.next() {
            try clock.time {
                for change in blocks.block { try writer.append(change, to: BeneficiaryGenerator.tableName) }
            }
        }
        let result = try clock.time { try writer.finish() }
        let phase = Phase(
            clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start, generationSeconds: blocks.generation.seconds
        )
        guard result.index.rows == rows else {
            throw BenchError("the bundle's index lists \(result.index.rows) rows, expected \(rows)")
        }
        return Written(
            phase: phase, paths: result.paths, fileBytes: result.bytes,
            payloadBytes: result.index.batches.reduce(0) { $0 + $1.bytes }, batches: result.index.batches.count)
    }

    /// Timed: reading the framing, verifying signature and digests, opening, and decoding every change of every
    /// batch into `Change` values. The split times `init`+`verify`, `open`+`nextBatch` (decrypt, decompress,
    /// untar) and `forEach` (decode) separately.
    func read(_ written: Written, rows: Int, memory: inout PeakMemory) throws -> Phase {
        var clock = Stopwatch()
        var verifying = Stopwatch()
        var unpacking = Stopwatch()
        var decoding = Stopwatch()
        memory.reset()
        let start = memory.current()
        var decoded = 0
        var sequenceSum: Int64 = 0
        let index = try clock.time { () throws -> BatchIndex? in
            let reader = try verifying.time { () throws -> BundleReader in
                let reader = try BundleReader(paths: written.paths)
                try reader.verify(sender: site.identity)
                return reader
            }
            let contents = try unpacking.time { try reader.open(recipient: hub) }
            while let batch = try unpacking.time({ try contents.nextBatch() }) {
                decoded += try decoding.time { try batch.forEach { change in sequenceSum &+= change.originSequence } }
            }
            return contents.index
        }
        let phase = Phase(
            clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start,
            split: [
                "verify": verifying.seconds, "decrypt_decompress_untar": unpacking.seconds,
                "decode": decoding.seconds,
            ])
        let expectedSum = Int64(rows) * Int64(rows + 1) / 2
        guard decoded == rows, index?.rows == rows, sequenceSum == expectedSum else {
            throw BenchError("read back \(decoded) changes (index: \(index?.rows ?? -1)), expected \(rows)")
        }
        return phase
    }
}
