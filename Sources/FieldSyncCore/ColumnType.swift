/// The declared type of a synced column.
///
/// A column type says how a value is written into a change batch and how each store must read it back, so that
/// a value survives a trip between SQLite and PostgreSQL exactly. Types that need more than SQLite's storage
/// classes (`numeric`, `timestamptz`, …) travel as their canonical text form.
public struct ColumnType: Sendable, Hashable, Codable, CustomStringConvertible {
    private enum Base: String, CaseIterable {
        case integer, real, text, blob, numeric, boolean, date, timestamp, timestamptz, uuid, json
        case any
    }

    private let base: Base

    /// 64-bit signed integer (`INTEGER`, `bigint`, `integer`, `smallint`).
    public static let integer = ColumnType(base: .integer)
    /// IEEE 754 double (`REAL`, `double precision`, `real`).
    public static let real = ColumnType(base: .real)
    /// UTF-8 text (`TEXT`, `varchar`, `char`).
    public static let text = ColumnType(base: .text)
    /// Bytes (`BLOB`, `bytea`).
    public static let blob = ColumnType(base: .blob)
    /// Exact decimal carried as its text form (`NUMERIC`, `DECIMAL`).
    public static let numeric = ColumnType(base: .numeric)
    /// True or false; 1 or 0 in SQLite.
    public static let boolean = ColumnType(base: .boolean)
    /// A calendar date as `YYYY-MM-DD` text.
    public static let date = ColumnType(base: .date)
    /// A timestamp without time zone, as text.
    public static let timestamp = ColumnType(base: .timestamp)
    /// A timestamp with its time zone offset, as text; the offset is kept.
    public static let timestamptz = ColumnType(base: .timestamptz)
    /// A UUID as text.
    public static let uuid = ColumnType(base: .uuid)
    /// JSON document as text.
    public static let json = ColumnType(base: .json)
    /// A SQLite column without a declared type: each value keeps its own storage class.
    public static let any = ColumnType(base: .any)

    /// All types, in documentation order.
    public static let allTypes: [ColumnType] = Base.allCases.map { ColumnType(base: $0) }

    /// The name used in manifests and configuration files.
    public var name: String { base.rawValue }
    public var description: String { base.rawValue }

    /// Whether values of this type travel as text in a change batch.
    public var isTextual: Bool {
        switch base {
        case .text, .numeric, .date, .timestamp, .timestamptz, .uuid, .json: true
        case .integer, .real, .blob, .boolean, .any: false
        }
    }

    /// Looks a type up by its manifest name; `nil` if FieldSync does not know it.
    public init?(name: String) {
        guard let base = Base(rawValue: name) else { return nil }
        self.base = base
    }

    private init(base: Base) { self.base = base }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let type = ColumnType(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown column type '\(name)'"))
        }
        self = type
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base.rawValue)
    }
}
