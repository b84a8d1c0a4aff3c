/// The steps every hub store takes for one batch of a site's bundle, around its own way of writing a row.
public enum BatchIngest {
    /// Applies the changes of `batch`: skips those already applied (`origin_seq <= appliedThrough`), sets aside
    /// those not from the sending site, and hands the rest to `apply`. A change `apply` could not write (it returns
    /// the reason, for example a constraint another row of the batch still holds) is retried after the rest of the
    /// batch, and again while each pass gets at least one more in; what still fails goes to `reject`.
    ///
    /// - Parameters:
    ///   - apply: judges and writes one change, counting it in the report; returns why it could not be written.
    ///     Its `Bool` says whether this is a retry.
    ///   - reject: records a change set aside with its reason.
    public static func run(
        _ batch: any ChangeBatchSource, site: String, appliedThrough: Int64, report: inout IngestReport,
        apply: (Change, Bool, inout IngestReport) throws -> String?,
        reject: (Change, String) throws -> Void
    ) throws {
        var failed: [(change: Change, reason: String)] = []
        try batch.forEach { change in
            guard change.originSequence > appliedThrough else {
                report.alreadyApplied += 1
                return
            }
            guard change.origin == site else {
                try reject(change, "change comes from '\(change.origin)', but a site may only send its own changes")
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
            try reject(entry.change, entry.reason)
            report.rejected += 1
        }
    }
}
