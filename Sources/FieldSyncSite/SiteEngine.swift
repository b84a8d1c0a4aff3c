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
    ///
    /// A change that would break a constraint at this site (a foreign key, a CHECK) is set aside and the rest
    /// applied (see
    /// ``SiteStore/importReturn(_:header:setAside:)``). A refused bundle (wrong recipient or sender, bad
    /// signature, damaged, a reserved table name, a constraint) leaves a line with the reason in the site's
    /// `_fieldsync_log`, which `fieldsync status` shows.
    public func importBundle(paths: [String]) throws -> SiteImport {
        var sequence: Int64 = 0
        do {
            let reader = try BundleReader(paths: paths, logger: logger)
            let header = reader.header
            sequence = Int64(clamping: header.sequence)
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
            var setAside: [ImportProblem] = []
            while true {
                do {
                    let contents = try reader.open(recipient: keys)
                    return try store.importReturn(contents, header: header, setAside: setAside)
                } catch let violations as ConstraintViolations {
                    let new = violations.problems.filter { !setAside.contains($0) }
                    // A violation no change of this bundle explains cannot be set aside: stop, naming it.
                    guard !new.isEmpty else {
                        throw StoreError(
                            .constraint,
                            "cannot apply the bundle: "
                                + violations.problems.map { "\($0.table) \($0.key): \($0.reason)" }
                                .joined(separator: "; ") + "; nothing from this bundle was applied",
                            location: violations.location)
                    }
                    logger.warning(
                        "setting aside hub changes that break a constraint here",
                        metadata: ["fieldsync.site.rows": "\(new.count)"])
                    setAside += new
                }
            }
        } catch let error as SchemaError {
            // A manifest that declares a table FieldSync refuses (a reserved or unsupported name).
            let refusal = StoreError(
                .schema, "bundle refused: \(error.message); nothing was applied", location: paths.first,
                underlying: error)
            try? store.logRefusal(sequence: sequence, file: paths.first ?? "", reason: refusal.message)
            throw refusal
        } catch {
            try? store.logRefusal(sequence: sequence, file: paths.first ?? "", reason: RefusalReason.of(error))
            throw error
        }
    }
}
