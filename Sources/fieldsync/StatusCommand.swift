import ArgumentParser
import FieldSyncCore
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show sync health: every site at a hub, or this site's pending changes and positions."
    )

    @Option(help: "The node directory.")
    var dir = "."

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try reportingErrors(json: json) {
            let node = try NodeDirectory.load(dir)
            switch node.configuration.role {
            case .hub:
                let engine = try node.hubEngine()
                let sites = try engine.store.sites()
                let refusals = try engine.store.lastRefusals()
                let dangling = try engine.store.danglingReferences(limit: 20)
                if json {
                    try printJSON(
                        HubStatusReport(
                            hub: node.configuration.id, sites: sites, refusals: refusals, danglingReferences: dangling))
                    return
                }
                let pending = try engine.store.conflicts(ConflictFilter(pendingOnly: true))
                print(
                    "Hub '\(node.configuration.id)': \(sites.count) site\(sites.count == 1 ? "" : "s"), tables "
                        + (try engine.store.tables().map(\.name).joined(separator: ", ")))
                for site in sites {
                    print("")
                    print("\(site.id)\(site.name == site.id ? "" : " (\(site.name))")")
                    print(
                        "  last bundle received:  \(site.lastSequence == 0 ? "none yet" : "\(site.lastSequence) at \(site.lastReceivedAt ?? "?")")"
                    )
                    print(
                        "  last return written:   \(site.lastReturnSequence == 0 ? "none yet" : "\(site.lastReturnSequence) at \(site.lastReturnAt ?? "?")")"
                    )
                    print("  hub changes pending:   \(site.pendingRows) (not yet acknowledged by the site)")
                    let waiting = pending.filter { $0.site == site.id }.count
                    print(
                        "  conflicts recorded:    \(site.conflicts)"
                            + (waiting > 0 ? ", \(waiting) waiting for a decision" : ""))
                    print("  rows set aside:        \(site.rejected)")
                    if let refusal = refusals.first(where: { $0.site == site.id }) {
                        print("  last bundle refused:   \(Self.describe(refusal))")
                    }
                }
                if !dangling.isEmpty {
                    print("")
                    print(
                        "Warning: deleted rows that rows of another table still reference; the sites holding those "
                            + "rows cannot apply the delete until the referencing rows are deleted or changed here:")
                    for reference in dangling {
                        print("  \(reference.table) \(reference.key): \(reference.rows) row(s) of \(reference.child)")
                    }
                }
                let strangers = refusals.filter { refusal in !sites.contains { $0.id == refusal.site } }
                if !strangers.isEmpty {
                    print("")
                    print("Bundles refused from senders that are not registered (the ids are what the files claim):")
                    for refusal in strangers {
                        print("  \(refusal.site ?? "(no readable header)"): \(Self.describe(refusal))")
                    }
                }
                if !pending.isEmpty {
                    print("")
                    print(
                        "\(pending.count) conflict\(pending.count == 1 ? " waits" : "s wait") for a decision: "
                            + "fieldsync conflicts list --pending")
                }
            case .site:
                let status = try node.siteEngine().store.status()
                if json {
                    try printJSON(status)
                    return
                }
                print("Site '\(status.site)' (hub '\(status.hub)'), database \(status.database)")
                print("  pending local changes: \(status.pendingChanges)")
                print(
                    "  last export:           \(status.lastExportSequence == 0 ? "none yet" : "bundle \(status.lastExportSequence) at \(status.lastExportAt ?? "?")")"
                )
                print(
                    "  last import:           \(status.lastImportSequence == 0 ? "none yet" : "return bundle \(status.lastImportSequence) at \(status.lastImportAt ?? "?")")"
                )
                print("  acknowledged by hub:   changes up to \(status.acknowledgedChange) of \(status.changeCounter)")
                print("  hub version applied:   \(status.hubVersion)")
                print("  outcomes from the hub: \(status.outcomes) (rows the hub kept its version of or set aside)")
                if status.problems > 0 {
                    print(
                        "  rows left out:         \(status.problems) (a value or key FieldSync cannot carry, or a hub "
                            + "change set aside; see _fieldsync_problems)")
                }
                print("  tables:                \(status.tables.joined(separator: ", "))")
                for (table, changes) in status.untrackedTables.sorted(by: { $0.key < $1.key }) {
                    print(
                        "  not tracked here:      \(table) (\(changes) hub change\(changes == 1 ? "" : "s") not "
                            + "applied; to take it: fieldsync site add-table \(table))")
                }
                if let refusal = status.lastRefusal {
                    print("  last refused bundle:   \(refusal) (at \(status.lastRefusalAt ?? "?"))")
                }
            }
        }
    }
}

extension StatusCommand {
    /// One line for a refused bundle: when, the file, why, and whether the sender is only claimed.
    static func describe(_ refusal: BundleRefusal) -> String {
        "\(refusal.at ?? "?") \(refusal.source): \(refusal.reason)" + (refusal.verified ? "" : " (sender not verified)")
    }
}

struct HubStatusReport: Encodable {
    var hub: String
    var sites: [SiteRecord]
    /// The latest refused bundle per sender, registered or only claimed.
    var refusals: [BundleRefusal]
    /// Deleted rows that rows of another table still reference (foreign keys declared at the hub), at most 20.
    var danglingReferences: [DanglingReference]
}
