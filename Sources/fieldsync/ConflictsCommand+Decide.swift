import ArgumentParser
import FieldSyncCore
import Foundation

extension ConflictTake: ExpressibleByArgument {}

extension ConflictsCommand {
    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide a conflict that waits for a person.",
            discussion: """
                --take site takes the site's version (for a delete: the row is deleted), hub the hub's current \
                row, merged the hub's current row with the site's changes to the columns the hub did not change \
                since the site's base. --set and --set-null then change columns of that row. The decided row is \
                written as a change made at the hub, so every site receives it with its next return bundle.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The conflict's id.")
        var id: Int64

        @Option(help: "Which version to start from.")
        var take: ConflictTake

        @Option(
            name: .customLong("set"),
            help: ArgumentHelp(
                "Set a column: COLUMN=VALUE, the value written as in SQL without quotes; repeat for more.",
                valueName: "column=value"))
        var sets: [String] = []

        @Option(
            name: .customLong("set-null"),
            help: ArgumentHelp("Set a column to NULL; repeat for more.", valueName: "column"))
        var nulls: [String] = []

        func assignments() throws -> [(column: String, text: String?)] {
            var result: [(column: String, text: String?)] = []
            for assignment in sets {
                guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                    throw ValidationError("--set '\(assignment)': expected COLUMN=VALUE")
                }
                result.append((String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...])))
            }
            result += nulls.map { ($0, nil) }
            var seen: Set<String> = []
            for (column, _) in result where !seen.insert(column).inserted {
                throw ValidationError("column '\(column)' is set twice")
            }
            return result
        }

        func validate() throws {
            _ = try assignments()
        }

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let store = try node.hubEngine().store
                let resolved = try store.resolveConflict(ConflictResolution(id: id, take: take, set: try assignments()))
                let what: String
                switch take {
                case .site: what = "the site's version"
                case .hub: what = "the hub's row"
                case .merged: what = "the merged row"
                }
                let changed = sets.isEmpty && nulls.isEmpty ? "" : " with \(sets.count + nulls.count) column(s) set"
                print(
                    "Conflict \(id) (\(resolved.table) \(resolved.key) from \(resolved.site)) is resolved: "
                        + "\(what)\(changed) (\(resolved.decision.rawValue)).")
                print(
                    "Every site receives the decided row with its next return bundle; \(resolved.site) also "
                        + "hears how its change was decided.")
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a row set aside again, after fixing what made the hub refuse it.",
            discussion: """
                The row is judged like a new arrival from its site: if the hub's row changed meanwhile, it is a \
                conflict settled by the table's rule. A row applied is written as a change made at the hub, so \
                every site receives it (the site that sent it too, which had been told it was set aside).
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The set-aside row's id (from 'fieldsync conflicts list --rejected').")
        var id: Int64

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let store = try node.hubEngine().store
                let row = try store.rejectedRows(site: nil, table: nil, includeApplied: true).first { $0.id == id }
                let name = row.map { "\($0.table) \($0.key) from \($0.site)" } ?? "row \(id)"
                switch try store.retryRejected(id: id) {
                case .applied:
                    print(
                        "Set-aside row \(id) (\(name)) is applied; every site receives it with its next return "
                            + "bundle.")
                case .unchanged:
                    print("Set-aside row \(id) (\(name)): the hub's row already holds it; nothing to write.")
                case .conflict(let conflict):
                    let record = try store.conflict(id: conflict)
                    print(
                        "Set-aside row \(id) (\(name)) met a newer change at the hub: recorded as conflict "
                            + "\(conflict), \(record.rule.rawValue) decided \(record.decision.rawValue). See it with "
                            + "'fieldsync conflicts show \(conflict)'.")
                case .failed(let reason):
                    throw StoreError(
                        .constraint, "set-aside row \(id) (\(name)) still cannot be applied: \(reason)")
                }
            }
        }
    }
}
