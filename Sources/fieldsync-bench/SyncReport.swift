import Foundation

/// The results of `fieldsync-bench sync`, as printed and as written by `--json`.
struct SyncReport: Codable {
    struct Throughput: Codable {
        var seconds: Double
        /// CPU seconds of the process over the same calls; well below `seconds` means waiting (fsync, busy cores).
        var cpuSeconds: Double
        var rowsPerSecond: Double
        var peakMemoryMB: Double
        /// Resident memory when the phase started; the rest of the peak is the phase's own.
        var startMemoryMB: Double
        /// Generation time left out of `seconds`.
        var excludedSeconds: Double

        init(_ phase: Phase, rows: Int) {
            seconds = phase.seconds
            cpuSeconds = phase.cpuSeconds
            rowsPerSecond = Double(rows) / phase.seconds
            peakMemoryMB = Double(phase.peakMemoryBytes) / 1e6
            startMemoryMB = Double(phase.startMemoryBytes) / 1e6
            excludedSeconds = phase.generationSeconds
        }
    }

    /// A FieldSync phase next to its limit.
    struct Comparison: Codable {
        var fieldsync: Throughput
        var limit: Throughput
        /// Library rows/s ÷ limit rows/s (wall clock).
        var ratio: Double
        /// The same from CPU seconds: steadier when other processes share the cores.
        var ratioByCPU: Double
        /// Reading the same bundle alone (verify, decrypt, decompress, decode), applying nothing.
        var bundleReadAlone: Throughput
        /// Limit seconds ÷ (library seconds − bundle read alone seconds): how the SQL part alone compares.
        var ratioOfApplyPart: Double
        /// What the limit copied from the store: journal mode, synchronous, table and index definitions.
        var limitSettings: SyncLimit.Settings

        init(library: Phase, limit: Phase, read: Phase, rows: Int, settings: SyncLimit.Settings) {
            self.fieldsync = Throughput(library, rows: rows)
            self.limit = Throughput(limit, rows: rows)
            ratio = limit.seconds / library.seconds
            ratioByCPU = limit.cpuSeconds / library.cpuSeconds
            bundleReadAlone = Throughput(read, rows: rows)
            ratioOfApplyPart = limit.seconds / max(library.seconds - read.seconds, 1e-9)
            limitSettings = settings
        }
    }

    struct ExportScaling: Codable {
        var small: SyncExportScaling.Size
        var large: SyncExportScaling.Size
        /// Best export time with the large table ÷ best with the small one.
        var ratio: Double
        var ratioByCPU: Double
    }

    struct Goal: Codable {
        var name: String
        var value: Double
        var comparison: String
        var target: Double
        var pass: Bool
    }

    static let exportRatioGoal = 1.5

    var rows: Int
    var repetitions: Int
    var hubIngest: Comparison
    var siteApply: Comparison
    var export: ExportScaling
    var siteBundleBytes: Int64
    var returnBundleBytes: Int64
    /// Untimed preparation of the exchange, in seconds.
    var setup: [String: Double]
    var goals: [Goal]

    init(
        rows: Int, repetitions: Int, exchange: SyncExchange.Result, small: SyncExportScaling.Size,
        large: SyncExportScaling.Size
    ) {
        self.rows = rows
        self.repetitions = repetitions
        hubIngest = Comparison(
            library: exchange.hubIngest, limit: exchange.hubLimit, read: exchange.siteBundleRead, rows: rows,
            settings: exchange.hubSettings)
        siteApply = Comparison(
            library: exchange.siteApply, limit: exchange.siteLimit, read: exchange.returnBundleRead, rows: rows,
            settings: exchange.siteSettings)
        export = ExportScaling(
            small: small, large: large, ratio: large.bestSeconds / small.bestSeconds,
            ratioByCPU: large.bestCPUSeconds / small.bestCPUSeconds)
        siteBundleBytes = exchange.siteBundleBytes
        returnBundleBytes = exchange.returnBundleBytes
        setup = exchange.setup
        goals = [
            Goal(
                name: "site apply ÷ raw insert", value: siteApply.ratio, comparison: ">=", target: 0.5,
                pass: siteApply.ratio >= 0.5),
            Goal(
                name: "hub ingest ÷ raw insert", value: hubIngest.ratio, comparison: ">=", target: 0.5,
                pass: hubIngest.ratio >= 0.5),
            Goal(
                name: "export time \(Self.power(large.tableRows)) ÷ \(Self.power(small.tableRows)) rows",
                value: export.ratio, comparison: "<=", target: Self.exportRatioGoal,
                pass: export.ratio <= Self.exportRatioGoal),
        ]
    }

    /// `10^6` for a power of ten, otherwise the grouped number.
    static func power(_ value: Int) -> String {
        var rest = value
        var exponent = 0
        while rest >= 10 && rest % 10 == 0 {
            rest /= 10
            exponent += 1
        }
        return rest == 1 && exponent > 1 ? "10^\(exponent)" : group(value)
    }

    /// The human-readable report.
    func table() -> String {
        var lines: [String] = []
        lines.append(
            "== hub ingest and site apply: \(group(rows)) new rows"
                + (repetitions > 1 ? ", best of \(repetitions) runs" : "") + " ==")
        lines.append(
            pad("", 56) + lpad("seconds", 9) + lpad("cpu s", 8) + lpad("rows/s", 10) + lpad("peak MB", 9)
                + lpad("start MB", 10) + lpad("excluded s", 12))
        func line(_ name: String, _ row: Throughput) -> String {
            pad(name, 56) + lpad(fixed(row.seconds, 3), 9) + lpad(fixed(row.cpuSeconds, 3), 8)
                + lpad(group(Int(row.rowsPerSecond.rounded())), 10) + lpad(fixed(row.peakMemoryMB, 1), 9)
                + lpad(fixed(row.startMemoryMB, 1), 10) + lpad(fixed(row.excludedSeconds, 3), 12)
        }
        func describe(_ settings: SyncLimit.Settings) -> String {
            let indexes = settings.definition.count - 1
            return "\(settings.journalMode), sync \(settings.synchronous), cache \(settings.cacheSize)"
                + (indexes > 0 ? ", +\(indexes) index" : "")
        }
        lines.append(line("hub ingest (HubEngine.importBundle)", hubIngest.fieldsync))
        lines.append(line("  limit: raw INSERT, \(describe(hubIngest.limitSettings))", hubIngest.limit))
        lines.append(line("  bundle read alone (verify+decrypt+decode)", hubIngest.bundleReadAlone))
        lines.append(line("site apply (SiteEngine.importBundle)", siteApply.fieldsync))
        lines.append(line("  limit: raw INSERT, \(describe(siteApply.limitSettings))", siteApply.limit))
        lines.append(line("  bundle read alone (verify+decrypt+decode)", siteApply.bundleReadAlone))
        lines.append(
            "bundles: site A → hub \(group(Int(siteBundleBytes))) B, "
                + "hub → site B \(group(Int(returnBundleBytes))) B")
        let untimed = [
            ("site A fill (app INSERTs, capture triggers on)", "site_a_fill_with_triggers"),
            ("site A export", "site_a_export"), ("hub return export", "hub_return_export"),
        ].compactMap { name, key in
            setup[key].map { "\(name) \(fixed($0, 2)) s (\(group(Int((Double(rows) / $0).rounded()))) rows/s)" }
        }
        lines.append("untimed for the goals: " + untimed.joined(separator: "; "))
        lines.append("")
        lines.append("== site export of ONE changed row (all other rows acknowledged) ==")
        lines.append(
            lpad("table rows", 12) + lpad("DB MB", 9) + lpad("insert s", 10) + lpad("install s", 11)
                + lpad("best ms", 10) + lpad("median ms", 11) + lpad("cpu ms", 9) + lpad("floor ms", 10)
                + lpad("peak MB", 9) + lpad("runs", 6))
        for size in [export.small, export.large] {
            lines.append(
                lpad(group(size.tableRows), 12) + lpad(fixed(Double(size.databaseBytes) / 1e6, 0), 9)
                    + lpad(fixed(size.insertSeconds, 2), 10) + lpad(fixed(size.installSeconds, 2), 11)
                    + lpad(fixed(size.bestSeconds * 1e3, 2), 10) + lpad(fixed(size.medianSeconds * 1e3, 2), 11)
                    + lpad(fixed(size.bestCPUSeconds * 1e3, 2), 9) + lpad(fixed(size.bundleFloorSeconds * 1e3, 2), 10)
                    + lpad(fixed(size.peakMemoryMB, 1), 9) + lpad(String(size.runs.count), 6))
        }
        lines.append(
            "floor = BundleWriter alone writing the same one change (sign, encrypt, fsync), no SQL. Acknowledged by "
                + export.small.acknowledgement)
        lines.append("")
        lines.append("goals:")
        let extra = [
            goals[0].name: "by CPU time \(fixed(siteApply.ratioByCPU, 3)); apply part alone "
                + fixed(siteApply.ratioOfApplyPart, 3),
            goals[1].name: "by CPU time \(fixed(hubIngest.ratioByCPU, 3)); apply part alone "
                + fixed(hubIngest.ratioOfApplyPart, 3),
            goals[2].name:
                "\(fixed(export.large.bestSeconds * 1e3, 2)) ms vs \(fixed(export.small.bestSeconds * 1e3, 2)) "
                + "ms; by CPU time \(fixed(export.ratioByCPU, 3))",
        ]
        for goal in goals {
            let comparison = ["<=": "≤", ">=": "≥"][goal.comparison] ?? goal.comparison
            lines.append(
                "  " + pad(goal.name, 30) + lpad(fixed(goal.value, 3), 8) + "   goal "
                    + pad("\(comparison) \(fixed(goal.target, 2))", 8) + (goal.pass ? "PASS" : "MISS")
                    + (extra[goal.name].map { "   (\($0))" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
