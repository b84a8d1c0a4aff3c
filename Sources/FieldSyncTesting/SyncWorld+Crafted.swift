import FieldSyncBundle
import FieldSyncCore

extension SyncWorld {
    /// Writes a bundle signed with `site`'s real keys and addressed to the hub, holding exactly what it is given:
    /// as a broken or hostile program at the site would write it. Returns its part paths.
    ///
    /// - Parameters:
    ///   - tables: the manifest's tables (a test may rename one after making it, to a name the checks refuse).
    ///   - prerequisites: the signed header's positions (default: none).
    ///   - properties: the manifest's properties (default: `changes_through` of the highest origin sequence).
    public func craftedBundle(
        from site: String, kind: BundleKind = .delta, sequence: UInt64, tables: [TableSchema],
        changes: [TableChange], prerequisites: [String: Int64] = [:], properties: [String: String]? = nil
    ) throws -> [String] {
        let through = changes.map(\.change.originSequence).max() ?? 0
        let result = try BundleFixtures.write(
            changes, tables: tables,
            configuration: .init(
                kind: kind, sequence: sequence, prerequisites: prerequisites,
                properties: properties ?? [SyncProperty.changesThrough: String(through)],
                directory: try directory.directory("crafted/\(site)"),
                baseName: "\(site)-crafted-\(sequence)-\(kind.rawValue)"),
            sender: self.site(site).keys, recipient: hubKeys.identity)
        return result.paths
    }
}
