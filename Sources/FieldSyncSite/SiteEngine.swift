import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import Logging

/// A site's side of an exchange: writes delta bundles for the hub and applies the hub's return bundles.
public final class SiteEngine {
    public let store: SiteStore
    private let keys: NodeKeys
    private let hub: PublicIdentity
    private let logger: Logger
    /// Seconds by which exports pretend the site's clock is off: added to every edit time and to each bundle's
    /// `created`. For tests of the hub's clock correction; default 0, and nothing else should change it.
    public var clockOffset: Double = 0

    public init(store: SiteStore, keys: NodeKeys, hub: PublicIdentity, logger: Logger = Logger(label: "fieldsync.site"))
        throws
    {
        guard keys.id == store.siteID else {
            throw StoreError(.invalidState, "the keys are for '\(keys.id)', but the database is site '\(store.siteID)'")
        }
        self.store = store
        self.keys = keys
        self.hub = hub
        self.logger = logger
    }

    /// Writes a delta bundle with every change the hub has not acknowledged.
    public func export(template: BundleWriter.Configuration) throws -> SiteExport {
        try store.exportBundle(keys: keys, hub: hub, template: template, clockOffset: clockOffset)
    }

    /// Verifies a return bundle against the hub's key and applies it.
    public func importBundle(paths: [String]) throws -> SiteImport {
        let reader = try BundleReader(paths: paths, logger: logger)
        let header = reader.header
        guard header.recipient == keys.id else {
            throw BundleError(
                .wrongRecipient, "bundle is addressed to '\(header.recipient)', not to this site '\(keys.id)'",
                path: reader.partPaths[0])
        }
        guard header.sender == hub.id else {
            throw BundleError(
                .unknownSender, "bundle is from '\(header.sender)', but this site's hub is '\(hub.id)'",
                path: reader.partPaths[0])
        }
        try reader.verify(sender: hub)
        let contents = try reader.open(recipient: keys)
        return try store.importReturn(contents, header: header)
    }
}
