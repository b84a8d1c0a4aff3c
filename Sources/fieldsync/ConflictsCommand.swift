import ArgumentParser
import FieldSyncCore
import Foundation

struct ConflictsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "At the hub: list, show and decide conflicts; list and retry rows set aside.",
        discussion: """
            A conflict is a site's change to a row the hub had changed since the site last saw it. The table's \
            rule ('fieldsync hub rules') settles it when it arrives; under the manual rule it waits for \
            'fieldsync conflicts resolve'. Rows set aside are site changes the hub's database refused (a \
            constraint); after fixing the cause, 'fieldsync conflicts retry' applies them again.
            """,
        subcommands: [List.self, Show.self, Resolve.self, Retry.self]
    )
}

extension ConflictsCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List recorded conflicts (oldest first), or with --rejected the rows set aside.")

        @Option(help: "The node directory.")
        var dir = "."

        @Option(help: "Only those from this site.")
        var site: String?

        @Option(help: "Only those of this table.")
        var table: String?

        @Flag(help: "Only conflicts waiting for a person (manual rule).")
        var pending = false

        @Flag(help: "List the rows set aside instead of conflicts.")
        var rejected = false

        @Flag(help: "With --rejected: also the rows a retry has applied since.")
        var all = false

        @Flag(help: "Print the result as JSON.")
        var json = false

        func validate() throws {
            if pending && rejected { throw ValidationError("--pending lists conflicts; it cannot go with --rejected") }
            if all && !rejected { throw ValidationError("--all goes with --rejected") }
        }

        func run() throws {
            try reportingErrors(json: json) {
                let node = try NodeDirectory.load(dir)
                let store = try node.hubEngine().store
                if rejected {
                    let rows = try store.rejectedRows(site: site, table: table, includeApplied: all)
                    if json { return try printJSON(rows.map(RejectedJSON.init)) }
                    guard !rows.isEmpty else { return print(all ? "No rows set aside." : "No rows waiting.") }
                    printTable(
                        header: ["ID", "RECORDED", "SITE", "TABLE", "KEY", "OP", "STATUS", "REASON"],
                        rows: rows.map {
                            [
                                String($0.id), $0.createdAt, $0.site, $0.table, $0.key, $0.incomingOperation.rawValue,
                                $0.status.rawValue, $0.reason,
                            ]
                        })
                    return
                }
                let conflicts = try store.conflicts(ConflictFilter(site: site, table: table, pendingOnly: pending))
                if json { return try printJSON(conflicts.map(ConflictSummaryJSON.init)) }
                guard !conflicts.isEmpty else {
                    return print(pending ? "No conflicts are waiting for a decision." : "No conflicts recorded.")
                }
                printTable(
                    header: ["ID", "RECORDED", "SITE", "TABLE", "KEY", "RULE", "DECISION"],
                    rows: conflicts.map {
                        [
                            String($0.id), $0.createdAt, $0.site, $0.table, $0.key, $0.rule.rawValue,
                            $0.decision.rawValue,
                        ]
                    })
                let waiting = conflicts.filter(\.decision.isPending).count
                if waiting > 0 {
                    print("")
                    print(
                        "\(waiting) waiting for a decision: see one with 'fieldsync conflicts show ID', decide it "
                            + "with 'fieldsync conflicts resolve ID --take site|hub|merged'.")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one conflict: the row at its base, the site's, the hub's then and now, column by column.")

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The conflict's id (from 'fieldsync conflicts list').")
        var id: Int64

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let node = try NodeDirectory.load(dir)
                let conflict = try node.hubEngine().store.conflict(id: id)
                if json { return try printJSON(ConflictJSON(conflict)) }
                printConflict(conflict)
            }
        }
    }
}

/// The text form of `fieldsync conflicts show`.
func printConflict(_ conflict: ConflictRecord) {
    print("Conflict \(conflict.id): \(conflict.table) \(conflict.key) from \(conflict.site)")
    print("  rule:       \(conflict.rule.rawValue)")
    var decision = conflict.decision.rawValue
    if conflict.decision.isPending {
        decision += " (decide with 'fieldsync conflicts resolve \(conflict.id) --take site|hub|merged')"
    } else if !conflict.decision.isResolved {
        decision += " (by the rule; 'fieldsync conflicts resolve \(conflict.id)' can still decide otherwise)"
    }
    print("  decision:   \(decision)")
    if let resolvedAt = conflict.resolvedAt { print("  resolved:   \(resolvedAt)") }
    print(
        "  recorded:   \(conflict.createdAt), bundle \(conflict.bundleID) (the site's change "
            + "\(conflict.originSequence))")
    print(
        "  versions:   the site edited hub version \(conflict.baseVersion); the hub had version "
            + "\(conflict.hubVersion), written by \(conflict.hubOrigin.map { "site '\($0)'" } ?? "the hub")")
    if conflict.siteTime != nil || conflict.hubTime != nil {
        print("  edit times: site \(conflict.siteTime ?? "?"), hub \(conflict.hubTime ?? "?") (hub clock)")
    }
    if !conflict.contested.isEmpty {
        print("  contested:  \(conflict.contested.joined(separator: ", ")) (settled by the fallback)")
    }
    print("")
    let sides = ConflictSides(conflict)
    var header = ["", "COLUMN"]
    if conflict.base != nil { header.append("BASE") }
    header += ["SITE (\(conflict.site))", "HUB THEN", "HUB NOW"]
    printTable(
        header: header,
        rows: conflict.columns.indices.map { index in
            var row = [sides.differs(index) ? "*" : "", conflict.columns[index]]
            if let base = conflict.base { row.append(display(base[index])) }
            row += [
                sides.site[index].map { display($0) } ?? "(deleted)",
                sides.hubThen[index].map { display($0) } ?? "(deleted)",
                sides.hubNow[index].map { display($0) } ?? "(deleted)",
            ]
            return row
        })
    print("")
    print("* the versions differ in this column" + (conflict.base == nil ? "; the row at its base was not kept" : ""))
}

/// The sides of a conflict by column, `nil` where the row is deleted on that side.
struct ConflictSides {
    var site: [Value?]
    var hubThen: [Value?]
    var hubNow: [Value?]

    init(_ conflict: ConflictRecord) {
        let count = conflict.columns.count
        site =
            conflict.incomingOperation == .delete
            ? Array(repeating: nil, count: count) : conflict.incoming.map { Optional($0) }
        hubThen = conflict.hubRow.map { $0.map { Optional($0) } } ?? Array(repeating: nil, count: count)
        hubNow = conflict.current.map { $0.map { Optional($0) } } ?? Array(repeating: nil, count: count)
    }

    /// Whether the site's version, the hub's then and the hub's now do not all agree in column `index`.
    func differs(_ index: Int) -> Bool {
        let values = [site[index], hubThen[index], hubNow[index]]
        return values.contains { value in
            switch (value, values[0]) {
            case (nil, nil): false
            case (let a?, let b?): !a.isSameValue(as: b)
            default: true
            }
        }
    }
}

/// A value for people: `NULL`, numbers as written, text in single quotes, bytes as `X'…'`; long ones shortened.
func display(_ value: Value, limit: Int = 40) -> String {
    let text: String
    switch value {
    case .null: return "NULL"
    case .integer(let number): return String(number)
    case .real(let number): return number.description
    case .text(let string):
        text =
            "'"
            + String(String.UnicodeScalarView(string.unicodeScalars.map { $0.value < 0x20 ? " " : $0 }))
            .replacingOccurrences(of: "'", with: "''") + "'"
    case .blob(let bytes):
        text = "X'" + bytes.map { String(format: "%02x", $0) }.joined() + "'"
    }
    return text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
}
