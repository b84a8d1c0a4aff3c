import FieldSyncBundle

/// Key pairs for a small network: a hub, the site under test and a second site.
///
/// Keys are generated fresh for every fixture (libsodium is fast), so no test depends on a checked-in secret.
public struct KeyFixtures: Sendable {
    public let hub: NodeKeys
    public let site: NodeKeys
    public let otherSite: NodeKeys

    public init(hubID: String = "hub", siteID: String = "site-a", otherSiteID: String = "site-b") throws {
        hub = try NodeKeys.generate(id: hubID)
        site = try NodeKeys.generate(id: siteID)
        otherSite = try NodeKeys.generate(id: otherSiteID)
    }

    /// A different key pair that claims the same id and epoch as `keys`: what an impostor would make.
    public static func impostor(of keys: NodeKeys) throws -> NodeKeys {
        try NodeKeys.generate(id: keys.id, epoch: keys.epoch)
    }
}
