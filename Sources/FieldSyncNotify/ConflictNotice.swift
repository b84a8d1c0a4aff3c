import FieldSyncCore
import Foundation

/// What a person reads about one conflict notification: an email subject and body naming the table, record, site,
/// rule and decision, and the command that shows the conflict.
public struct ConflictNotice: Sendable {
    public var conflictID: Int64?
    public var table: String
    /// The record's key as JSON text (`["b1"]`).
    public var record: String
    public var site: String
    public var rule: String
    public var decision: String
    public var hubVersion: Int64?
    public var baseVersion: Int64?
    public var bundleID: String?
    public var time: String

    /// Reads the notification's details JSON; fields it lacks are taken from the notification's own columns.
    public init(_ notification: ConflictNotification) {
        let details =
            (try? JSONSerialization.jsonObject(with: Data(notification.details.utf8))) as? [String: Any] ?? [:]
        func text(_ key: String) -> String? {
            switch details[key] {
            case let value as String: return value
            case let value as NSNumber: return value.stringValue
            case let value?:
                guard JSONSerialization.isValidJSONObject(value),
                    let data = try? JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes])
                else { return nil }
                return String(decoding: data, as: UTF8.self)
            case nil: return nil
            }
        }
        conflictID = text("conflict_id").flatMap { Int64($0) }
        table = text("table") ?? notification.table
        record = text("record_id") ?? notification.recordID
        site = text("client") ?? notification.site
        rule = text("rule") ?? "?"
        decision = text("decision") ?? "?"
        hubVersion = text("server_version").flatMap { Int64($0) }
        baseVersion = text("client_version").flatMap { Int64($0) }
        bundleID = text("bundle_id")
        time = text("timestamp") ?? notification.createdAt
    }

    /// The command that shows the conflict, with `--dir` when the hub's node directory is known.
    public func showCommand(nodeDirectory: String?) -> String {
        let id = conflictID.map(String.init) ?? "ID"
        return "fieldsync conflicts show \(id)" + (nodeDirectory.map { " --dir \($0)" } ?? "")
    }

    /// `FieldSync conflict 7: beneficiaries ["b1"] from site-nairobi (manual, pending)`.
    public var subject: String {
        "FieldSync conflict\(conflictID.map { " \($0)" } ?? ""): \(table) \(record) from \(site) (\(rule), \(decision))"
    }

    /// The email body, plain text.
    public func body(hub: String, nodeDirectory: String?) -> String {
        var lines = [
            "The hub '\(hub)' recorded a sync conflict.",
            "",
            "  table:     \(table)",
            "  record:    \(record)",
            "  site:      \(site)",
            "  rule:      \(rule)",
            "  decision:  \(decision)\(decision == ConflictDecision.pending.rawValue ? " (waiting for a person)" : "")",
        ]
        if let hubVersion, let baseVersion {
            lines.append("  versions:  the site edited hub version \(baseVersion); the hub had version \(hubVersion)")
        }
        if let bundleID { lines.append("  bundle:    \(bundleID)") }
        lines.append("  time:      \(time)")
        lines += ["", "See both versions side by side with:", "", "  \(showCommand(nodeDirectory: nodeDirectory))"]
        if decision == ConflictDecision.pending.rawValue {
            let id = conflictID.map(String.init) ?? "ID"
            lines += [
                "", "and decide it with:", "",
                "  fieldsync conflicts resolve \(id) --take site|hub|merged"
                    + (nodeDirectory.map { " --dir \($0)" } ?? ""),
            ]
        }
        lines += ["", "-- ", "FieldSync hub notifications (fieldsync hub notify)"]
        return lines.joined(separator: "\n") + "\n"
    }
}
