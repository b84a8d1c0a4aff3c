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

extension IncomingBundle {
    /// Checks what the bundle says it has received and sent, and returns its `changes_through`.
    ///
    /// Refuses, naming the field, a bundle whose manifest lacks `changes_through` or gives anything but a whole number
    /// from 0 up (`"abc"`, `"-1"`, `"4.0"`): importing it would apply its changes but never move the site's
    /// acknowledgement, so the site would send them again forever. Refuses, too, a header that acknowledges a return
    /// bundle or a hub version the hub never wrote (above `lastReturnSequence` or `hubVersion`), or a negative one.
    ///
    /// - Parameters:
    ///   - lastReturnSequence: the sequence of the last return bundle the hub planned for the site.
    ///   - hubVersion: the hub's current version.
    public func checkAcknowledgements(lastReturnSequence: Int64, hubVersion: Int64) throws -> Int64 {
        func refuse(_ what: String) -> StoreError {
            StoreError(
                .invalidState,
                "bundle \(sequence) from site '\(site)' is malformed: \(what). Nothing was applied", location: source)
        }
        guard let text = properties[SyncProperty.changesThrough] else {
            throw refuse("its manifest has no '\(SyncProperty.changesThrough)' property")
        }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 19, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            bytes.count == 1 || bytes[0] != 48, let through = Int64(text)
        else {
            throw refuse("its manifest's '\(SyncProperty.changesThrough)' is not a whole number from 0 up")
        }
        let claimedReturn = prerequisites[SyncProperty.acknowledgedReturn] ?? 0
        guard claimedReturn >= 0, claimedReturn <= lastReturnSequence else {
            throw refuse(
                "its header's '\(SyncProperty.acknowledgedReturn)' is \(claimedReturn), but the hub has written "
                    + "return bundles 1 to \(lastReturnSequence) for the site")
        }
        let claimedVersion = prerequisites[SyncProperty.hubVersion] ?? 0
        guard claimedVersion >= 0, claimedVersion <= hubVersion else {
            throw refuse(
                "its header's '\(SyncProperty.hubVersion)' is \(claimedVersion), above any version the hub has "
                    + "made (\(hubVersion))")
        }
        return through
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
        if impossibleBases > 0 {
            message +=
                "; \(impossibleBases) changes claimed a base version the hub never gave their row, "
                + "and were judged as made on an older row"
        }
        if clampedBases > 0 {
            message +=
                "; \(clampedBases) changes claimed a base version above any the hub sent the site, "
                + "and were judged as based on the highest it sent"
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
