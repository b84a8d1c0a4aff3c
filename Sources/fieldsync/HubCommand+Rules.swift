import ArgumentParser
import FieldSyncCore
import Foundation

extension ConflictStrategy: ExpressibleByArgument {}

extension HubCommand {
    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set how each synced table's conflicts are settled.",
            discussion: """
                Strategies: server_wins (the default), client_wins, last_write_wins, field_merge (with a fallback \
                for the columns that cannot merge) and manual (a person decides with 'fieldsync conflicts \
                resolve'). Rules may also be written in the hub's fieldsync.json under "conflict_rules"; those are \
                applied to the store whenever a hub command runs, and 'hub rules set' refuses their tables.
                """,
            subcommands: [List.self, SetRule.self],
            defaultSubcommand: List.self
        )
    }
}

extension HubCommand.Rules {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every synced table's rule and where it comes from (the default subcommand)."
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors(json: json) {
                let node = try NodeDirectory.load(dir)
                let store = try node.hubEngine().store
                let configured = node.configuration.conflictRules ?? [:]
                let rules = try store.conflictRules().map { rule in
                    RuleReport(
                        rule: rule,
                        source: configured[rule.table] != nil
                            ? .config : rule == ConflictRule.default(for: rule.table) ? .default : .store,
                        file: configured[rule.table] != nil ? node.configurationPath : nil)
                }
                let unsynced = try node.configuredRulesForUnsyncedTables(store)
                if json {
                    try printJSON(rules)
                } else if rules.isEmpty {
                    print("The hub syncs no tables yet; add them with 'fieldsync hub add-table'.")
                } else {
                    printTable(
                        header: ["TABLE", "STRATEGY", "FALLBACK", "MERGE FIELDS", "NOTIFY", "FROM"],
                        rows: rules.map { report in
                            let merging = report.strategy == .fieldMerge
                            return [
                                report.table, report.strategy.rawValue, merging ? report.fallback.rawValue : "-",
                                merging ? report.mergeFields?.joined(separator: ",") ?? "(all)" : "-",
                                report.notify ? "yes" : "no", report.file ?? report.source.rawValue,
                            ]
                        })
                }
                for table in unsynced {
                    printWarning(
                        "\(node.configurationPath) has a conflict rule for table '\(table)', which this hub does not "
                            + "sync; it applies once the table is added")
                }
            }
        }
    }

    struct SetRule: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a table's conflict rule, for bundles imported from now on.",
            discussion: """
                The rule is replaced as a whole: --fallback and --merge-fields default to server_wins and every \
                column but the key. Notification stays as it was unless --notify or --no-notify is given. A table \
                whose rule is in fieldsync.json ("conflict_rules") is refused: change it there.
                """
        )

        @Option(help: "The node directory.")
        var dir = "."

        @Argument(help: "The synced table.")
        var table: String

        @Option(help: "How conflicts are settled.")
        var strategy: ConflictStrategy

        @Option(help: "field_merge only: how columns that cannot merge are settled (default server_wins).")
        var fallback: ConflictStrategy?

        @Option(
            name: .customLong("merge-fields"),
            help: "field_merge only: the columns that may merge, comma-separated (default: all but the key).")
        var mergeFields: String?

        @Flag(inversion: .prefixedNo, help: "Queue a notification for each conflict ('fieldsync hub notify').")
        var notify: Bool?

        func validate() throws {
            if strategy != .fieldMerge && (fallback != nil || mergeFields != nil) {
                throw ValidationError("--fallback and --merge-fields apply only to --strategy field_merge")
            }
            if fallback == .fieldMerge {
                throw ValidationError("--fallback cannot be field_merge itself")
            }
        }

        func run() throws {
            try reportingErrors {
                let node = try NodeDirectory.load(dir)
                let store = try node.hubEngine().store
                if node.configuration.conflictRules?[table] != nil {
                    throw StoreError(
                        .invalidState,
                        "table '\(table)' has its rule in \(node.configurationPath) (conflict_rules.\(table)); "
                            + "change it there, or remove it there to set it with this command")
                }
                guard let current = try store.conflictRules().first(where: { $0.table == table }) else {
                    throw StoreError(.notFound, "table '\(table)' is not synced by this hub")
                }
                let fields = mergeFields.map {
                    $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                }
                let rule = ConflictRule(
                    table: table, strategy: strategy, fallback: fallback ?? .serverWins, mergeFields: fields,
                    notify: notify ?? current.notify)
                try store.setConflictRule(rule)
                print("Table '\(table)': \(describe(rule)). It applies to bundles imported from now on.")
            }
        }
    }
}

/// `field_merge (fallback server_wins, merge fields a, b), notifications on`.
func describe(_ rule: ConflictRule) -> String {
    var text = rule.strategy.rawValue
    if rule.strategy == .fieldMerge {
        text +=
            " (fallback \(rule.fallback.rawValue), merge fields "
            + (rule.mergeFields.map { $0.joined(separator: ", ") } ?? "all but the key") + ")"
    }
    return text + ", notifications \(rule.notify ? "on" : "off")"
}

/// One row of `fieldsync hub rules --json`.
struct RuleReport: Encodable {
    var table: String
    var strategy: ConflictStrategy
    var fallback: ConflictStrategy
    var mergeFields: [String]?
    var notify: Bool
    var source: RuleSource
    /// The configuration file, when ``source`` is `config`.
    var file: String?

    init(rule: ConflictRule, source: RuleSource, file: String?) {
        table = rule.table
        strategy = rule.strategy
        fallback = rule.fallback
        mergeFields = rule.mergeFields
        notify = rule.notify
        self.source = source
        self.file = file
    }

    enum CodingKeys: String, CodingKey {
        case table, strategy, fallback, mergeFields = "merge_fields", notify, source, file
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(table, forKey: .table)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(fallback, forKey: .fallback)
        try container.encode(mergeFields, forKey: .mergeFields)
        try container.encode(notify, forKey: .notify)
        try container.encode(source, forKey: .source)
        try container.encodeIfPresent(file, forKey: .file)
    }
}
