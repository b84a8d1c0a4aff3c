/// The steps every hub store takes for one batch of a site's bundle, around its own way of writing a row.
public enum BatchIngest {
    /// Applies the changes of `batch`: skips those already applied (`origin_seq <= appliedThrough`), lowers a base
    /// version above `baseCeiling` to it (``ConflictJudge/clampingBase(_:to:)``, counted in
    /// ``IngestReport/clampedBases``; the lowered base is what is judged and recorded), sets aside
    /// those not from the sending site and those with a value the hub cannot keep (`refuse`), and hands the rest
    /// to `apply`. A change `apply` could not write (it returns
    /// the reason, for example a constraint another row of the batch still holds) is retried after the rest of the
    /// batch, and again while each pass gets at least one more in; what still fails goes to `reject`.
    ///
    /// - Parameters:
    ///   - baseCeiling: the highest hub version the site can know: the highest any return bundle written for it
    ///     may carry.
    ///   - refuse: why the hub cannot keep a value of the change (``TableSchema/conformed(_:)``), or `nil`; such a
    ///     change is set aside at once, never tried, and the site keeps its row (no hub row can correct it).
    ///   - apply: judges and writes one change, counting it in the report; returns why it could not be written.
    ///     Its `Bool` says whether this is a retry.
    ///   - reject: records a change set aside with its reason; its `Bool` says whether the site is sent the hub's
    ///     state of the row (`false`: the site keeps its own).
    public static func run(
        _ batch: any ChangeBatchSource, site: String, appliedThrough: Int64, baseCeiling: Int64,
        report: inout IngestReport, refuse: (Change) -> String? = { _ in nil },
        apply: (Change, Bool, inout IngestReport) throws -> String?,
        reject: (Change, String, Bool) throws -> Void
    ) throws {
        var failed: [(change: Change, reason: String)] = []
        try batch.forEach { incoming in
            guard incoming.originSequence > appliedThrough else {
                report.alreadyApplied += 1
                return
            }
            let (change, clamped) = ConflictJudge.clampingBase(incoming, to: baseCeiling)
            if clamped { report.clampedBases += 1 }
            guard change.origin == site else {
                try reject(
                    change, "change comes from '\(change.origin)', but a site may only send its own changes", true)
                report.rejected += 1
                return
            }
            if let reason = refuse(change) {
                try reject(change, reason, false)
                report.rejected += 1
                return
            }
            if let reason = try apply(change, false, &report) {
                failed.append((change, reason))
            }
        }
        var progress = true
        while progress && !failed.isEmpty {
            progress = false
            var still: [(change: Change, reason: String)] = []
            for entry in failed {
                if let reason = try apply(entry.change, true, &report) {
                    still.append((entry.change, reason))
                } else {
                    progress = true
                }
            }
            failed = still
        }
        for entry in failed {
            try reject(entry.change, entry.reason, true)
            report.rejected += 1
        }
    }
}
