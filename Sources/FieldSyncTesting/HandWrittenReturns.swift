import FieldSyncBundle
import FieldSyncCore
import Foundation

/// Return bundles written by hand for a real site: signed with the hub's keys, encrypted to the site, numbered
/// one after another, with exactly the changes, outcomes and properties a test puts in them. The site side that
/// imports them is the real one.
public final class HandWrittenReturns {
    /// The hub's keys, which sign the bundles.
    public let hubKeys: NodeKeys
    /// The site's keys, whose public half the bundles are encrypted to.
    public let siteKeys: NodeKeys
    /// The folder the bundles are written to.
    public let directory: String
    /// The sequence number of the last bundle written.
    public private(set) var sequence: UInt64 = 0
    /// The hub version last handed out by ``nextVersion()``; each bundle says it carries everything through it.
    public private(set) var hubVersion: Int64 = 0

    /// Keys for a hub `hub` and a site `site`, with bundles written into `directory` (which must exist).
    public init(hub: String = "hub", site: String = "site-a", directory: String) throws {
        hubKeys = try NodeKeys.generate(id: hub)
        siteKeys = try NodeKeys.generate(id: site)
        self.directory = directory
    }

    /// The next hub version, for a change the next bundle carries.
    public func nextVersion() -> Int64 {
        hubVersion += 1
        return hubVersion
    }

    /// Writes the next return bundle with `changes` (table, change) for `tables`, acknowledging the site's changes
    /// through `acknowledged` and carrying hub versions through ``hubVersion``; returns its files.
    ///
    /// - Parameters:
    ///   - outcomes: what became of the site's rows, as the `outcomes` property.
    ///   - extra: more manifest properties; they replace the ones written here.
    public func write(
        _ changes: [(table: String, change: Change)], tables: [TableSchema], acknowledged: Int64,
        outcomes: [RowOutcome] = [], properties extra: [String: String] = [:]
    ) throws -> [String] {
        sequence += 1
        var properties = [
            SyncProperty.acknowledgedChange: String(acknowledged), SyncProperty.throughVersion: String(hubVersion),
        ]
        if !outcomes.isEmpty {
            properties[SyncProperty.outcomes] = String(decoding: try JSONEncoder().encode(outcomes), as: UTF8.self)
        }
        properties.merge(extra) { _, new in new }
        let writer = try BundleWriter(
            configuration: .init(
                kind: .return, sequence: sequence, prerequisites: [SyncProperty.acknowledgedSequence: 0],
                properties: properties, directory: directory),
            tables: tables, sender: hubKeys, recipient: siteKeys.identity)
        for (table, change) in changes { try writer.append(change, to: table) }
        return try writer.finish().paths
    }
}
