extension IncomingBundle {
    /// Refuses a bundle from a site whose database went back in time (restored from an older copy): it reuses a
    /// sequence the hub applied with another bundle, or claims less than the site acknowledged before. Applying it
    /// would silently lose the changes made since the copy.
    ///
    /// - Parameter appliedBundleID: the id of the bundle the hub applied with this sequence, if any; asked only
    ///   when the sequence is not new.
    public func checkFollows(
        lastSequence: UInt64, ackedReturn: Int64, ackedHubVersion: Int64,
        appliedBundleID: () throws -> String?
    ) throws {
        // Stores keep sequences as signed 64-bit integers; the bundle reader refuses larger ones, and so does this.
        guard sequence <= UInt64(Int64.max) else {
            throw StoreError(
                .invalidState,
                "bundle \(bundleID) from site '\(site)' has sequence \(sequence), larger than \(Int64.max); "
                    + "nothing was applied", location: source)
        }
        let restored = StoreError(
            .invalidState,
            "bundle \(sequence) from site '\(site)' does not follow what the hub has from that site: "
                + "the site's database looks restored from an older copy. Nothing was applied. Give the restored "
                + "site a new site id (see docs/sync.md, 'A site restored from a backup')", location: source)
        if sequence <= lastSequence {
            if let other = try appliedBundleID(), other != bundleID { throw restored }
            return
        }
        let claimedReturn = prerequisites[SyncProperty.acknowledgedReturn] ?? 0
        let claimedVersion = prerequisites[SyncProperty.hubVersion] ?? 0
        if claimedReturn < ackedReturn || claimedVersion < ackedHubVersion { throw restored }
    }
}

extension IngestReport {
    /// The sync log's line for an applied bundle.
    public var logMessage: String {
        var message =
            "bundle \(bundleID) sequence \(sequence): \(applied) applied, \(unchanged) unchanged, "
            + "\(conflicts) conflicts, \(rejected) rejected"
        if let missed = missedSequences {
            message += "; bundles \(missed.lowerBound)-\(missed.upperBound) never arrived"
        }
        return message
    }

    /// The sync log's status for an applied bundle: `partial` when rows were set aside.
    public var logStatus: String { rejected > 0 ? "partial" : "ok" }

    /// Counts a conflict settled by `verdict` (and, if it waits for a person, as pending too).
    public mutating func count(_ verdict: ConflictVerdict) {
        conflicts += 1
        if verdict.decision.isPending { pendingConflicts += 1 }
    }
}

extension ReturnPlan {
    /// "versions A-B" for the log: the hub versions after ``afterVersion`` through ``throughVersion``. Computed
    /// without overflow, whatever position a site claimed.
    public var versionRangeText: String {
        let (first, overflow) = afterVersion.addingReportingOverflow(1)
        return overflow ? "no versions after \(afterVersion)" : "versions \(first)-\(throughVersion)"
    }
}
