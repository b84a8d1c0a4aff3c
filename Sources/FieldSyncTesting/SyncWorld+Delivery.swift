import FieldSyncBundle
import FieldSyncCore
import FieldSyncHub
import FieldSyncSQLite
import FieldSyncSite
import Foundation

/// Single steps of an exchange, so a test can lose, duplicate, delay and reorder bundles, and look at what each
/// step reported.
extension SyncWorld {
    /// A return bundle the hub wrote, with what it carries.
    public struct WrittenReturn {
        public var paths: [String]
        public var sequence: UInt64
        public var bundleID: String
        /// Changed rows carried (hub changes and outcome rows).
        public var rows: Int
        public var plan: ReturnPlan
    }

    /// Writes a delta bundle from `site` and says what it carries.
    public func exportSiteBundle(_ id: String) throws -> SiteExport {
        try site(id).engine.export(
            template: .init(kind: .delta, sequence: 0, directory: directory.file("outbox/\(id)")))
    }

    /// Writes a return bundle for `site` and says what it carries.
    public func exportReturnBundle(_ id: String) throws -> WrittenReturn {
        let written = try hub.exportReturn(
            for: id, template: .init(kind: .return, sequence: 0, directory: directory.file("return/\(id)")))
        return WrittenReturn(
            paths: written.bundle.paths, sequence: written.bundle.header.sequence,
            bundleID: written.bundle.header.bundleID, rows: written.rows, plan: written.plan)
    }

    /// The hub verifies and applies a site bundle.
    @discardableResult
    public func deliverToHub(_ paths: [String]) throws -> IngestReport {
        try hub.importBundle(paths: paths)
    }

    /// `site` verifies and applies a return bundle.
    @discardableResult
    public func deliverToSite(_ id: String, _ paths: [String]) throws -> SiteImport {
        try site(id).engine.importBundle(paths: paths)
    }

    /// Records changed at `site` that the hub has not acknowledged yet.
    public func pendingChanges(_ id: String) throws -> Int64 {
        try site(id).engine.store.status().pendingChanges
    }

    /// The hub's rows of `table` with their bookkeeping: the table's columns, then `sync_version`, `sync_deleted`
    /// and `sync_origin_client`, tombstones included, ordered by primary key.
    public func hubRowsWithBookkeeping(_ table: String) throws -> [[Value]] {
        let schema = try hubStore.tables().first { $0.name == table }!
        let columns = schema.columns.map { Identifier.quoted($0.name) }.joined(separator: ", ")
        let order = schema.primaryKey.map(Identifier.quoted).joined(separator: ", ")
        return try hubSQL.query(
            "SELECT \(columns), sync_version, sync_deleted, sync_origin_client FROM \(Identifier.quoted(table)) "
                + "ORDER BY \(order)")
    }

    /// The hub's current version counter.
    public func hubVersion() throws -> Int64 {
        switch hubKind {
        case .sqlite:
            return try hubDatabase.scalar("SELECT version FROM _fieldsync_counter WHERE id = 1")?.integerValue ?? 0
        case .postgres:
            return try hubSQL.query(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq"
            ).first?.first?.integerValue ?? 0
        }
    }

    /// Throws unless every site holds exactly the hub's live rows in every table, bit for bit: same storage class,
    /// same bits for reals (so `-0.0` differs from `0.0`), same UTF-8 bytes for text (where ``expectConverged()``
    /// would accept canonically equivalent text).
    public func expectIdentical() throws {
        for table in try hubStore.tables() {
            let hubRows = try hubRows(table.name)
            for site in sites {
                let rows = try siteRows(site.id, table.name)
                if let problem = Self.firstDifference(rows, hubRows) {
                    throw WorldError(message: "table \(table.name): site \(site.id) differs from the hub: \(problem)")
                }
            }
        }
    }

    /// Where two row lists differ bit for bit (row index and column index; never the values), or `nil`.
    public static func firstDifference(_ left: [[Value]], _ right: [[Value]]) -> String? {
        for (index, (a, b)) in zip(left, right).enumerated() {
            guard a.count == b.count else { return "row \(index) has \(a.count) columns against \(b.count)" }
            for (column, (x, y)) in zip(a, b).enumerated() where !x.isIdentical(to: y) {
                return "row \(index), column \(column): \(x) against \(y)"
            }
        }
        return left.count == right.count ? nil : "\(left.count) rows against \(right.count)"
    }
}
