import Foundation

/// Results and goals of `fieldsync-bench postgres`.
struct PostgresReport: Codable {
    struct Line: Codable {
        var name: String
        var seconds: Double
        var cpuSeconds: Double
        var rowsPerSecond: Double
        var peakMemoryMB: Double
    }

    struct Goal: Codable {
        var name: String
        var value: Double
        /// `>=`, `<=`, or `report` (no goal).
        var comparison: String
        var target: Double?
        var pass: Bool?
    }

    var rows: Int
    var serverVersion: String
    var lines: [Line]
    var exchange: PostgresExchange.Result
    var small: PostgresExportScaling.Size
    var large: PostgresExportScaling.Size
    var goals: [Goal]

    init(
        rows: Int, serverVersion: String, exchange: PostgresExchange.Result, small: PostgresExportScaling.Size,
        large: PostgresExportScaling.Size
    ) {
        self.rows = rows
        self.serverVersion = serverVersion
        self.exchange = exchange
        self.small = small
        self.large = large
        func line(_ name: String, _ phase: Phase) -> Line {
            Line(
                name: name, seconds: phase.seconds, cpuSeconds: phase.cpuSeconds,
                rowsPerSecond: Double(rows) / phase.seconds, peakMemoryMB: Double(phase.peakMemoryBytes) / 1e6)
        }
        lines = [
            line("hub ingest, new rows (importBundle)", exchange.newIngest),
            line("raw COPY, same rows", exchange.newLimit),
            line("hub ingest, updated rows (importBundle)", exchange.updateIngest),
            line("raw COPY, same updated rows", exchange.updateLimit),
            line("return export, empty site (exportReturn)", exchange.returnExport),
        ]
        let newRatio = exchange.newLimit.seconds / exchange.newIngest.seconds
        let updateRatio = exchange.updateLimit.seconds / exchange.updateIngest.seconds
        let scaling = large.bestSeconds / small.bestSeconds
        goals = [
            Goal(
                name: "1. ingest new rows / raw COPY (rows/s)", value: newRatio, comparison: ">=", target: 0.5,
                pass: newRatio >= 0.5),
            Goal(name: "2. ingest updated rows / raw COPY (rows/s)", value: updateRatio, comparison: "report"),
            Goal(
                name: "3. return export rows/s", value: Double(rows) / exchange.returnExport.seconds,
                comparison: "report"),
            Goal(
                name: "4. one-row return export, \(Self.power(large.tableRows)) / \(Self.power(small.tableRows)) rows",
                value: scaling, comparison: "<=", target: 2, pass: scaling <= 2),
        ]
    }

    static func power(_ value: Int) -> String {
        var rest = value
        var exponent = 0
        while rest >= 10 && rest % 10 == 0 {
            rest /= 10
            exponent += 1
        }
        return rest == 1 ? "10^\(exponent)" : String(value)
    }

    func table() -> String {
        var out: [String] = []
        out.append("PostgreSQL \(serverVersion), \(rows) rows")
        out.append(pad("phase", 44) + lpad("seconds", 9) + lpad("cpu s", 8) + lpad("rows/s", 10) + lpad("peak MB", 9))
        for line in lines {
            out.append(
                pad(line.name, 44) + lpad(fmt(line.seconds, 3), 9) + lpad(fmt(line.cpuSeconds, 3), 8)
                    + lpad(fmt(line.rowsPerSecond, 0), 10) + lpad(fmt(line.peakMemoryMB, 0), 9))
        }
        out.append("")
        out.append(
            "one-row return export: \(small.tableRows) rows best \(fmt(small.bestSeconds * 1000, 2)) ms "
                + "(median \(fmt(small.medianSeconds * 1000, 2)) ms, table built in \(fmt(small.buildSeconds, 1)) s); "
                + "\(large.tableRows) rows best \(fmt(large.bestSeconds * 1000, 2)) ms "
                + "(median \(fmt(large.medianSeconds * 1000, 2)) ms, built in \(fmt(large.buildSeconds, 1)) s, "
                + "\(fmt(Double(large.tableBytes) / 1e6, 0)) MB)")
        out.append("")
        out.append(pad("goal", 52) + lpad("value", 10) + lpad("target", 10) + "  result")
        for goal in goals {
            let target = goal.target.map { "\(goal.comparison) \(fmt($0, 1))" } ?? "—"
            let result = goal.pass.map { $0 ? "PASS" : "MISS" } ?? "(reported)"
            let digits = goal.value >= 100 ? 0 : 3
            out.append(pad(goal.name, 52) + lpad(fmt(goal.value, digits), 10) + lpad(target, 10) + "  " + result)
        }
        return out.joined(separator: "\n")
    }

    private func fmt(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
    private func lpad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
