import FieldSyncCore
import Foundation

/// A row value in JSON output, in the form of ``Value/jsonText``: numbers, strings, `null`, `{"hex": …}` for
/// bytes, `{"real": "NaN"}` for a real JSON cannot hold.
struct JSONValue: Encodable {
    var value: Value

    init(_ value: Value) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .null: try container.encodeNil()
        case .integer(let number): try container.encode(number)
        case .real(let number) where number.isFinite: try container.encode(number)
        case .real(let number):
            try container.encode(["real": number.isNaN ? "NaN" : number < 0 ? "-Infinity" : "Infinity"])
        case .text(let text): try container.encode(text)
        case .blob(let bytes): try container.encode(["hex": bytes.map { String(format: "%02x", $0) }.joined()])
        }
    }
}

/// A row as a JSON object of column to value, or `null`.
private func row(_ columns: [String], _ values: [Value]?) -> [String: JSONValue]? {
    values.map { Dictionary(zip(columns, $0.map(JSONValue.init)), uniquingKeysWith: { first, _ in first }) }
}

/// A key written as a JSON array, decoded for output (kept as text if it is not one).
private func keyValues(_ text: String) -> [JSONValue] {
    (Value.arrayFromJSON(text) ?? [.text(text)]).map(JSONValue.init)
}

/// One line of `fieldsync conflicts list --json`.
struct ConflictSummaryJSON: Encodable {
    var id: Int64
    var site: String
    var table: String
    var key: [JSONValue]
    var rule: ConflictStrategy
    var decision: ConflictDecision
    var contested: [String]
    var createdAt: String
    var resolvedAt: String?
    var bundleID: String
    var originSequence: Int64

    init(_ conflict: ConflictRecord) {
        id = conflict.id
        site = conflict.site
        table = conflict.table
        key = keyValues(conflict.key)
        rule = conflict.rule
        decision = conflict.decision
        contested = conflict.contested
        createdAt = conflict.createdAt
        resolvedAt = conflict.resolvedAt
        bundleID = conflict.bundleID
        originSequence = conflict.originSequence
    }

    enum CodingKeys: String, CodingKey {
        case id, site, table, key, rule, decision, contested, createdAt = "created_at", resolvedAt = "resolved_at"
        case bundleID = "bundle_id", originSequence = "origin_sequence"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(site, forKey: .site)
        try container.encode(table, forKey: .table)
        try container.encode(key, forKey: .key)
        try container.encode(rule, forKey: .rule)
        try container.encode(decision, forKey: .decision)
        try container.encode(contested, forKey: .contested)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(resolvedAt, forKey: .resolvedAt)
        try container.encode(bundleID, forKey: .bundleID)
        try container.encode(originSequence, forKey: .originSequence)
    }
}

/// `fieldsync conflicts show --json`: the summary, the versions, and each side of the row as an object (`null`
/// where the row is deleted or, for the base, not kept).
struct ConflictJSON: Encodable {
    var summary: ConflictSummaryJSON
    var conflict: ConflictRecord

    init(_ conflict: ConflictRecord) {
        summary = ConflictSummaryJSON(conflict)
        self.conflict = conflict
    }

    enum CodingKeys: String, CodingKey {
        case baseVersion = "base_version", hubVersion = "hub_version", hubOrigin = "hub_origin"
        case siteTime = "site_time", hubTime = "hub_time", operation, columns, differing
        case base, incoming, hubRow = "hub_row", current
    }

    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        let columns = conflict.columns
        try container.encode(conflict.baseVersion, forKey: .baseVersion)
        try container.encode(conflict.hubVersion, forKey: .hubVersion)
        try container.encode(conflict.hubOrigin, forKey: .hubOrigin)
        try container.encode(conflict.siteTime, forKey: .siteTime)
        try container.encode(conflict.hubTime, forKey: .hubTime)
        try container.encode(conflict.incomingOperation.rawValue, forKey: .operation)
        try container.encode(columns, forKey: .columns)
        let sides = ConflictSides(conflict)
        try container.encode(columns.indices.filter(sides.differs).map { columns[$0] }, forKey: .differing)
        try container.encode(row(columns, conflict.base), forKey: .base)
        try container.encode(row(columns, conflict.incoming), forKey: .incoming)
        try container.encode(row(columns, conflict.hubRow), forKey: .hubRow)
        try container.encode(row(columns, conflict.current), forKey: .current)
    }
}

/// One line of `fieldsync conflicts list --rejected --json`.
struct RejectedJSON: Encodable {
    var record: RejectedRecord

    init(_ record: RejectedRecord) { self.record = record }

    enum CodingKeys: String, CodingKey {
        case id, site, table, key, status, reason, operation, incoming
        case createdAt = "created_at", retriedAt = "retried_at", bundleID = "bundle_id"
        case originSequence = "origin_sequence"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.id, forKey: .id)
        try container.encode(record.site, forKey: .site)
        try container.encode(record.table, forKey: .table)
        try container.encode(keyValues(record.key), forKey: .key)
        try container.encode(record.status.rawValue, forKey: .status)
        try container.encode(record.reason, forKey: .reason)
        try container.encode(record.incomingOperation.rawValue, forKey: .operation)
        try container.encode(row(record.columns, record.incoming), forKey: .incoming)
        try container.encode(record.createdAt, forKey: .createdAt)
        try container.encode(record.retriedAt, forKey: .retriedAt)
        try container.encode(record.bundleID, forKey: .bundleID)
        try container.encode(record.originSequence, forKey: .originSequence)
    }
}
