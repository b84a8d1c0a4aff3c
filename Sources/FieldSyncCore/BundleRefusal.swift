/// A bundle the hub refused (unknown sender, bad signature, wrong recipient, a site that went back in time, malformed
/// content, a store failure): written to the hub's log (`sync_log`) with its reason, and shown by `fieldsync status`.
public struct BundleRefusal: Sendable, Codable, Hashable {
    /// The sending site: the one whose key checked the signature (``verified``), or the id the bundle's header
    /// claims when the signature could not be checked against a registered key; `nil` when not even a header
    /// could be read.
    public var site: String?
    /// Whether the bundle's signature was checked against the site's registered key. A refusal that is not verified
    /// names only what the file claims: anyone could have written it.
    public var verified: Bool
    /// The bundle's id, when its header could be read.
    public var bundleID: String?
    /// The file the bundle came from.
    public var source: String
    /// Why it was refused, as said to the person importing it.
    public var reason: String
    /// When the hub refused it (ISO 8601, the hub's clock); `nil` before it is logged.
    public var at: String?

    public init(
        site: String?, verified: Bool, bundleID: String?, source: String, reason: String, at: String? = nil
    ) {
        self.site = site
        self.verified = verified
        self.bundleID = bundleID
        self.source = source
        self.reason = reason
        self.at = at
    }

    /// The log line's text: the file, the bundle, and for an unverified sender that the id is only claimed.
    public var logMessage: String {
        var message = "bundle \(bundleID ?? "(unreadable header)") from \(source) refused"
        if let site, !verified { message += "; sender '\(site)' is claimed by the file, unverified" }
        return message + ": " + reason
    }

    /// The status of a refusal's log line: `error`, which the reference procedure's `sync_metrics` and
    /// `check_sync_alerts()` count.
    public static let logStatus = "error"

    enum CodingKeys: String, CodingKey {
        case site, verified, bundleID = "bundle_id", source, reason, at
    }
}

/// A deleted (tombstoned) row at the hub that live rows of another table still reference through a foreign key
/// declared in the hub's database: the sites holding those rows cannot apply the delete.
public struct DanglingReference: Sendable, Codable, Hashable {
    /// The table of the deleted row.
    public var table: String
    /// The deleted row's key, as a JSON array.
    public var key: String
    /// The table whose rows still reference it.
    public var child: String
    /// How many live rows of `child` reference it.
    public var rows: Int64

    public init(table: String, key: String, child: String, rows: Int64) {
        self.table = table
        self.key = key
        self.child = child
        self.rows = rows
    }
}
