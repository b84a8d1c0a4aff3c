import Foundation

/// The results of one row count, as printed and as written by `--json`.
struct BundleReport: Codable {
    struct Throughput: Codable {
        var seconds: Double
        /// CPU seconds of the process over the same calls; well below `seconds` means waiting (disk, busy cores).
        var cpuSeconds: Double
        var rowsPerSecond: Double
        /// Uncompressed COPY-text bytes per second, in MB (10^6 bytes).
        var megabytesPerSecond: Double
        var peakMemoryMB: Double
        /// Resident memory when the phase started; the rest of the peak is the phase's own.
        var startMemoryMB: Double
        /// Generation (and, for the limit, COPY encoding) time left out of `seconds`.
        var excludedSeconds: Double
        /// Parts of `seconds` timed separately, where the phase has them.
        var split: [String: Double]?

        init(_ phase: Phase, rows: Int, bytes: Int) {
            seconds = phase.seconds
            cpuSeconds = phase.cpuSeconds
            split = phase.split.isEmpty ? nil : phase.split
            rowsPerSecond = Double(rows) / phase.seconds
            megabytesPerSecond = Double(bytes) / 1e6 / phase.seconds
            peakMemoryMB = Double(phase.peakMemoryBytes) / 1e6
            startMemoryMB = Double(phase.startMemoryBytes) / 1e6
            excludedSeconds = phase.generationSeconds
        }
    }

    struct Goal: Codable {
        var name: String
        var value: Double
        var comparison: String
        var target: Double
        var unit: String
        var pass: Bool
    }

    var rows: Int
    var repetitions: Int
    /// Uncompressed COPY text of all rows (the batches), in bytes.
    var payloadBytes: Int
    var batches: Int
    var bundleBytes: Int64
    var bundleBytesPerRow: Double
    /// The same COPY text through plain streaming zstd at the same level.
    var zstdBytes: Int
    var limitFileBytes: Int
    var bundleWrite: Throughput
    var bundleRead: Throughput
    var limitWrite: Throughput
    var limitRead: Throughput
    var writeRatio: Double
    var readRatio: Double
    /// The same ratios from CPU seconds instead of wall-clock seconds: steadier when other processes share the cores.
    var writeRatioByCPU: Double
    var readRatioByCPU: Double
    /// Bundle read without its verify pass (signature and BLAKE2b digests) ÷ limit read, which has none.
    var readRatioWithoutVerify: Double?
    var sizeRatio: Double
    var goals: [Goal]

    init(
        rows: Int, repetitions: Int, bundle: BundlePipeline.Written, limit: LimitPipeline.Written,
        phases: (bundleWrite: Phase, bundleRead: Phase, limitWrite: Phase, limitRead: Phase)
    ) {
        self.rows = rows
        self.repetitions = repetitions
        payloadBytes = bundle.payloadBytes
        batches = bundle.batches
        bundleBytes = bundle.fileBytes
        bundleBytesPerRow = Double(bundle.fileBytes) / Double(rows)
        zstdBytes = limit.zstdBytes
        limitFileBytes = limit.fileBytes
        bundleWrite = Throughput(phases.bundleWrite, rows: rows, bytes: payloadBytes)
        bundleRead = Throughput(phases.bundleRead, rows: rows, bytes: payloadBytes)
        limitWrite = Throughput(phases.limitWrite, rows: rows, bytes: payloadBytes)
        limitRead = Throughput(phases.limitRead, rows: rows, bytes: payloadBytes)
        writeRatio = bundleWrite.megabytesPerSecond / limitWrite.megabytesPerSecond
        readRatio = bundleRead.megabytesPerSecond / limitRead.megabytesPerSecond
        writeRatioByCPU = phases.limitWrite.cpuSeconds / phases.bundleWrite.cpuSeconds
        readRatioByCPU = phases.limitRead.cpuSeconds / phases.bundleRead.cpuSeconds
        readRatioWithoutVerify = phases.bundleRead.split["verify"].map {
            phases.limitRead.seconds / (phases.bundleRead.seconds - $0)
        }
        sizeRatio = Double(bundleBytes) / Double(zstdBytes)
        goals = [
            Goal(
                name: "write ÷ limit write", value: writeRatio, comparison: ">=", target: 0.5, unit: "",
                pass: writeRatio >= 0.5),
            Goal(
                name: "read ÷ limit read", value: readRatio, comparison: ">=", target: 0.5, unit: "",
                pass: readRatio >= 0.5),
            Goal(
                name: "bundle size ÷ zstd size", value: sizeRatio, comparison: "<=", target: 1.1, unit: "",
                pass: sizeRatio <= 1.1),
            Goal(
                name: "write peak memory", value: bundleWrite.peakMemoryMB, comparison: "<", target: 100,
                unit: "MB", pass: bundleWrite.peakMemoryMB < 100),
            Goal(
                name: "read peak memory", value: bundleRead.peakMemoryMB, comparison: "<", target: 100,
                unit: "MB", pass: bundleRead.peakMemoryMB < 100),
        ]
    }

    /// The human-readable block for this row count.
    func table() -> String {
        var lines: [String] = []
        lines.append(
            "== \(group(rows)) rows: \(fixed(Double(payloadBytes) / 1e6, 1)) MB COPY text "
                + "(\(fixed(Double(payloadBytes) / Double(rows), 0)) B/row), \(batches) batches"
                + (repetitions > 1 ? ", best of \(repetitions) runs" : "") + " ==")
        lines.append(
            pad("", 44) + lpad("seconds", 9) + lpad("cpu s", 8) + lpad("rows/s", 12) + lpad("MB/s", 9)
                + lpad("peak MB", 9)
                + lpad("start MB", 10) + lpad("excluded s", 12))
        for (name, row) in [
            ("bundle write", bundleWrite), ("bundle read (verify+open+decode)", bundleRead),
            ("limit write (zstd -3 + secretstream 64K)", limitWrite), ("limit read (decrypt + unzstd)", limitRead),
        ] {
            lines.append(
                pad(name, 44) + lpad(fixed(row.seconds, 3), 9) + lpad(fixed(row.cpuSeconds, 3), 8)
                    + lpad(group(Int(row.rowsPerSecond.rounded())), 12)
                    + lpad(fixed(row.megabytesPerSecond, 1), 9) + lpad(fixed(row.peakMemoryMB, 1), 9)
                    + lpad(fixed(row.startMemoryMB, 1), 10) + lpad(fixed(row.excludedSeconds, 3), 12))
        }
        let split = bundleRead.split ?? [:]
        if let verify = split["verify"], let unpack = split["decrypt_decompress_untar"], let decode = split["decode"] {
            let total = bundleRead.seconds
            lines.append(
                "bundle read split: open+verify \(fixed(verify, 3)) s (\(percent(verify / total))), "
                    + "decrypt+unzstd+untar \(fixed(unpack, 3)) s (\(percent(unpack / total))), "
                    + "decode \(fixed(decode, 3)) s (\(percent(decode / total)))")
        }
        lines.append(
            "sizes: bundle \(group(Int(bundleBytes))) B = \(fixed(bundleBytesPerRow, 1)) B/row; plain zstd "
                + "\(group(zstdBytes)) B (ratio \(fixed(Double(payloadBytes) / Double(zstdBytes), 2)):1); "
                + "limit file \(group(limitFileBytes)) B")
        let extra = [
            "write ÷ limit write": "by CPU time \(fixed(writeRatioByCPU, 3))",
            "read ÷ limit read": "by CPU time \(fixed(readRatioByCPU, 3))"
                + (readRatioWithoutVerify.map { "; without the verify pass \(fixed($0, 3))" } ?? ""),
        ]
        for goal in goals {
            let value = goal.unit.isEmpty ? fixed(goal.value, 3) : "\(fixed(goal.value, 1)) \(goal.unit)"
            let target = goal.unit.isEmpty ? fixed(goal.target, 2) : "\(fixed(goal.target, 0)) \(goal.unit)"
            let comparison = ["<=": "≤", ">=": "≥"][goal.comparison] ?? goal.comparison
            lines.append(
                "  " + pad(goal.name, 26) + lpad(value, 10) + "   goal " + pad("\(comparison) \(target)", 10)
                    + (goal.pass ? "PASS" : "MISS") + (extra[goal.name].map { "   (\($0))" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

func percent(_ fraction: Double) -> String {
    "\(fixed(fraction * 100, 0))%"
}

/// `1234567` as `1,234,567`.
func group(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}
