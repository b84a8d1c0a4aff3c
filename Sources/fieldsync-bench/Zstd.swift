import CZstd

/// Streaming zstd compression (`ZSTD_compressStream2`), one frame for everything passed in.
final class ZstdCompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    /// Creates a context at `level` (`ZSTD_createCCtx`, `ZSTD_c_compressionLevel`).
    init(level: Int) throws {
        guard let context = ZSTD_createCCtx() else { throw BenchError("ZSTD_createCCtx failed") }
        self.context = context
        output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)), "ZSTD_CCtx_setParameter")
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    /// Compresses `input`, passing compressed bytes to `sink` as they come; `end` closes the frame.
    func compress(
        _ input: UnsafeRawBufferPointer, end: Bool, into sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let mode = end ? ZSTD_e_end : ZSTD_e_continue
        while true {
            var target = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let remaining = ZSTD_compressStream2(context, &target, &source, mode)
            try Zstd.check(remaining, "ZSTD_compressStream2")
            if target.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: output[0..<target.pos])) }
            if end ? remaining == 0 : source.pos == source.size { return }
        }
    }
}

/// Streaming zstd decompression (`ZSTD_decompressStream`).
final class ZstdDecompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    /// Whether the last call ended exactly at the end of a frame.
    private(set) var atFrameEnd = false

    init() throws {
        guard let context = ZSTD_createDCtx() else { throw BenchError("ZSTD_createDCtx failed") }
        self.context = context
        output = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    /// Decompresses `input`, passing plaintext to `sink`, until the input is used up and nothing is pending.
    func decompress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            var target = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let hint = ZSTD_decompressStream(context, &target, &source)
            try Zstd.check(hint, "ZSTD_decompressStream")
            atFrameEnd = hint == 0
            if target.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: output[0..<target.pos])) }
            if source.pos == source.size && target.pos < target.size { return }
        }
    }
}

enum Zstd {
    /// Throws with zstd's message when `result` is an error code (`ZSTD_isError`, `ZSTD_getErrorName`).
    static func check(_ result: Int, _ function: String) throws {
        guard ZSTD_isError(result) != 0 else { return }
        throw BenchError("\(function): \(String(cString: ZSTD_getErrorName(result)))")
    }

    /// The library's version (`ZSTD_versionString`).
    static func version() -> String { String(cString: ZSTD_versionString()) }
}
