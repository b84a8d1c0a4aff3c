import FieldSyncBundle
import FieldSyncCore
import Logging

/// The hub's side of an exchange: checks and applies site bundles, writes return bundles.
///
/// Works with any ``HubStore`` (embedded SQLite or PostgreSQL). Every bundle is verified against the sending
/// site's registered public key before anything in it is decrypted, then applied by the store in one transaction.
public final class HubEngine {
    public let store: any HubStore
    private let keys: NodeKeys
    private let logger: Logger

    public init(store: any HubStore, keys: NodeKeys, logger: Logger = Logger(label: "fieldsync.hub")) throws {
        guard keys.id == store.hubID else {
            throw StoreError(
                .invalidState, "the keys are for '\(keys.id)', but the store belongs to hub '\(store.hubID)'")
        }
        self.store = store
        self.keys = keys
        self.logger = logger
    }

    /// Verifies, decrypts and applies the bundle made of `paths` (its parts, or one of them).
    ///
    /// Only a site's `delta` bundle is accepted: a `snapshot` is a first load the hub writes for a site, never one a
    /// site sends, and a `return` bundle is for a site. Every refusal is written to the hub's log with its reason
    /// (``HubStore/logRefusal(_:)``), naming the sender the header claims when its key did not check the signature.
    ///
    /// - Throws: ``BundleError`` when the bundle is refused (unknown site, bad signature, tampered, …), in which
    ///   case nothing changed; ``StoreError`` when the store refuses it or fails, in which case its transaction
    ///   rolled back.
    public func importBundle(paths: [String]) throws -> IngestReport {
        var refusal = BundleRefusal(
            site: nil, verified: false, bundleID: nil, source: paths.first ?? "", reason: "")
        do {
            return try importBundle(paths: paths, refusal: &refusal)
        } catch {
            refusal.reason = RefusalReason.of(error)
            log(refusal)
            throw error
        }
    }

    /// Writes to the hub's log a bundle refused before it reached ``importBundle(paths:)`` (for example a file whose
    /// header cannot be read while its parts are grouped); the sender is unknown.
    public func logRefusal(of path: String, error: any Error) {
        log(BundleRefusal(site: nil, verified: false, bundleID: nil, source: path, reason: RefusalReason.of(error)))
    }

    private func log(_ refusal: BundleRefusal) {
        do {
            try store.logRefusal(refusal)
        } catch let logError {
            // Below the command line's default level: the refusal itself is the error a person reads, and a store
            // that cannot log it is usually the very reason it was refused (the connection is gone).
            logger.notice(
                "refused bundle not logged",
                metadata: ["fieldsync.bundle.source": "\(refusal.source)", "fieldsync.error": "\(logError)"])
        }
        logger.info(
            "bundle refused",
            metadata: [
                "fieldsync.bundle.source": "\(refusal.source)", "fieldsync.site": "\(refusal.site ?? "?")",
                "fieldsync.site.verified": "\(refusal.verified)",
            ])
    }

    private func importBundle(paths: [String], refusal: inout BundleRefusal) throws -> IngestReport {
        let reader = try BundleReader(paths: paths, logger: logger)
        let header = reader.header
        refusal.source = reader.partPaths[0]
        refusal.bundleID = header.bundleID
        if Identifier.isValidNodeID(header.sender) { refusal.site = header.sender }
        guard header.recipient == keys.id else {
            throw BundleError(
                .wrongRecipient, "bundle is addressed to '\(header.recipient)', not to this hub '\(keys.id)'",
                path: reader.partPaths[0])
        }
        guard header.kind == .delta else {
            throw BundleError(
                .invalidArgument,
                header.kind == .snapshot
                    ? "a snapshot bundle is a first load the hub writes for a site; a site sends its changes as "
                        + "a delta bundle ('fieldsync bundle export' at the site)"
                    : "a \(header.kind.rawValue) bundle is for a site, not for the hub",
                path: reader.partPaths[0])
        }
        guard let publicKey = try store.publicKey(ofSite: header.sender) else {
            throw BundleError(
                .unknownSender,
                "bundle is from '\(header.sender)', which is not registered at this hub; "
                    + "run 'fieldsync hub add-site \(header.sender) --public-key FILE'", path: reader.partPaths[0])
        }
        try reader.verify(sender: try PublicIdentity(line: publicKey))
        refusal.verified = true
        let contents = try reader.open(recipient: keys)
        let report = try store.ingest(
            IncomingBundle(
                bundleID: header.bundleID, site: header.sender, sequence: header.sequence,
                prerequisites: header.prerequisites, properties: contents.manifest.properties,
                source: reader.partPaths[0], created: header.created, nextBatch: { try contents.nextBatch() }))
        logger.info(
            "bundle ingested",
            metadata: [
                "fieldsync.bundle.id": "\(header.bundleID)", "fieldsync.site": "\(header.sender)",
                "fieldsync.ingest.status": "\(report.status.rawValue)", "fieldsync.ingest.applied": "\(report.applied)",
            ])
        return report
    }

    /// Writes the next return bundle for `site` into `directory`.
    ///
    /// - Returns: the written bundle and what it carries.
    public func exportReturn(for site: String, template: BundleWriter.Configuration) throws
        -> (bundle: BundleWriter.Result, plan: ReturnPlan, rows: Int)
    {
        guard let publicKey = try store.publicKey(ofSite: site) else {
            throw StoreError(.notFound, "site '\(site)' is not registered at this hub")
        }
        let plan = try store.planReturn(for: site)
        var configuration = template
        configuration.kind = .return
        configuration.sequence = plan.sequence
        configuration.prerequisites = plan.prerequisites
        configuration.properties = plan.properties
        let writer = try BundleWriter(
            configuration: configuration, tables: plan.tables, sender: keys,
            recipient: try PublicIdentity(line: publicKey), logger: logger)
        let rows: Int
        do {
            rows = try store.streamReturn(plan) { change, table in try writer.append(change, to: table) }
        } catch {
            writer.abort()
            throw error
        }
        let result = try writer.finish()
        try store.recordReturn(plan, bundleID: result.header.bundleID, rows: rows)
        return (result, plan, rows)
    }
}
