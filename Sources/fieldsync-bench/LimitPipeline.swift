import FieldSyncCore

/// The reference ("limit") pipeline: the same rows as COPY text, compressed by plain streaming zstd at the
/// bundle's level, encrypted with secretstream in chunks of the bundle's size, written to a file — and back.
///
/// It does the least work any bundle format with these libraries must do, so the bundle's throughput is reported
/// as a fraction of it. Like the bundle, it writes a real file and fsyncs it; unlike the bundle it has no tar
/// framing, digests, signatures, batch index or row encoding/decoding (the COPY text is made outside the timing).
struct LimitPipeline {
    struct Written {
        var phase: Phase
        var path: String
        var payloadBytes: Int
        var zstdBytes: Int
        var fileBytes: Int
    }

    let level: Int
    let chunkSize: Int
    private let key: SecretStreamKey

    init(level: Int, chunkSize: Int) throws {
        self.level = level
        self.chunkSize = chunkSize
        key = try SecretStreamKey()
    }

    /// Timed: zstd and secretstream over each block's COPY text, the file writes and the final fsync. Not timed:
    /// making the rows and encoding them as COPY text.
    func write(rows: Int, seed: UInt64, path: String, memory: inout PeakMemory) throws -> Written {
        var blocks = RowBlocks(rows: rows, seed: seed)
        var encoding = Stopwatch()
        var clock = Stopwatch()
        var text: [UInt8] = []
        text.reserveCapacity(RowBlocks.blockSize * 2048)
        memory.reset()
        let start = memory.current()
        let file = try BenchFile.create(path)
        let compressor = try ZstdCompressor(level: level)
        let push = try SecretStreamPush(key: key, chunkSize: chunkSize)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var filled = 0
        var payloadBytes = 0
        var zstdBytes = 0
        var fileBytes = 0
        let writeCiphertext = { (bytes: UnsafeRawBufferPointer) throws in
            try file.write(bytes)
            fileBytes += bytes.count
        }
        // Compressed bytes fill fixed-size plaintext chunks; each full chunk is encrypted and written at once.
        let chunkCompressed = { (compressed: UnsafeRawBufferPointer) throws in
            zstdBytes += compressed.count
            var offset = 0
            while offset < compressed.count {
                let take = min(chunkSize - filled, compressed.count - offset)
                (chunk.baseAddress! + filled).copyMemory(from: compressed.baseAddress! + offset, byteCount: take)
                filled += take
                offset += take
                if filled == chunkSize {
                    try push.push(UnsafeRawBufferPointer(chunk), final: false, into: writeCiphertext)
                    filled = 0
                }
            }
        }
        try clock.time { try push.header.withUnsafeBytes { (bytes) throws in try writeCiphertext(bytes) } }
        while blocks.next() {
            encoding.time {
                text.removeAll(keepingCapacity: true)
                for change in blocks.block { CopyText.append(change, to: &text) }
            }
            payloadBytes += text.count
            try clock.time {
                try text.withUnsafeBytes { (bytes) throws in
                    try compressor.compress(bytes, end: false, into: chunkCompressed)
                }
            }
        }
        try clock.time {
            try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), end: true, into: chunkCompressed)
            try push.push(UnsafeRawBufferPointer(rebasing: chunk[0..<filled]), final: true, into: writeCiphertext)
            try file.sync()
        }
        let phase = Phase(
            clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start,
            generationSeconds: blocks.generation.seconds + encoding.seconds)
        return Written(phase: phase, path: path, payloadBytes: payloadBytes, zstdBytes: zstdBytes, fileBytes: fileBytes)
    }

    /// Timed: reading the file, decrypting every chunk and decompressing into a reused buffer.
    func read(_ written: Written, memory: inout PeakMemory) throws -> Phase {
        var clock = Stopwatch()
        memory.reset()
        let start = memory.current()
        var plaintextBytes = 0
        var sawFinal = false
        var atFrameEnd = false
        try clock.time {
            let file = try BenchFile.openForReading(written.path)
            var header = [UInt8](repeating: 0, count: SecretStreamPull.headerByteCount)
            let got = try header.withUnsafeMutableBytes { (bytes) throws in try file.read(into: bytes) }
            guard got == header.count else { throw BenchError("the reference file has no stream header") }
            let pull = try SecretStreamPull(key: key, header: header, chunkSize: chunkSize)
            let decompressor = try ZstdDecompressor()
            let buffer = UnsafeMutableRawBufferPointer.allocate(
                byteCount: chunkSize + SecretStreamPull.overhead, alignment: 16)
            defer { buffer.deallocate() }
            while !sawFinal {
                let count = try file.read(into: buffer)
                guard count > 0 else { throw BenchError("the reference stream ends without its final chunk") }
                sawFinal = try pull.pull(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { (plain) throws in
                    try decompressor.decompress(plain) { plaintextBytes += $0.count }
                }
            }
            atFrameEnd = decompressor.atFrameEnd
        }
        guard plaintextBytes == written.payloadBytes, atFrameEnd else {
            throw BenchError(
                "the reference pipeline read back \(plaintextBytes) bytes, expected \(written.payloadBytes)")
        }
        return Phase(clock, peakMemoryBytes: memory.peak(), startMemoryBytes: start)
    }
}
