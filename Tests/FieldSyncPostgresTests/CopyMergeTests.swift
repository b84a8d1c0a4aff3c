import FieldSyncCore
import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

@Suite(.enabled(if: TestPostgres.isAvailable, Comment(rawValue: TestPostgres.skipMessage)))
struct CopyMergeTests {
    /// What an ingest left at the hub: report counts, rows, conflicts (with their JSON) and rows to send again.
    struct Outcome: Equatable {
        var counts: [Int]
        var rows: [[String?]]
        var conflicts: [[String?]]
        var resends: [[String?]]
        var versions: [[String?]]
    }

    /// Runs one scenario of updates, deletes, resends and conflicts over existing rows with `copyThreshold`.
    func run(copyThreshold: Int) throws -> Outcome {
        let database = try TestPostgres()
        let store = try PostgresHubStore.create(
            configuration: database.configuration(copyThreshold: copyThreshold), hubID: "hub")
        try store.addTable(name: "people", schema: peopleSchema)
        try store.registerSite(id: "site-a", name: "Site A", publicKey: "key")
        let staff = try database.connect()
        try staff.execute(
            "INSERT INTO people (id, name, age) SELECT 'h' || i, 'hub ' || i, i FROM generate_series(1, 5) i")
        let first = (1...20).map { person("p\($0)", "site \($0)", Int64($0), site: "site-a", seq: Int64($0)) }
        _ = try store.ingest(
            memoryBundle(
                id: "b1", site: "site-a", sequence: 1, changesThrough: 20,
                batches: [MemoryBatch(schema: peopleSchema, changes: first)]))
        let base = try staff.integer("SELECT max(sync_version) FROM people")
        try staff.execute(
            "UPDATE people SET name = 'staff 1' WHERE id = 'p1'; UPDATE people SET name = 'same' WHERE id = 'p2'; "
                + "DELETE FROM people WHERE id = 'p3'; UPDATE people SET name = 'staff 8' WHERE id = 'p8'; "
                + "UPDATE people SET age = 100 WHERE id = 'h1'; UPDATE people SET name = 'hub 2b' WHERE id = 'h2'")
        var seq: Int64 = 20
        func next() -> Int64 {
            seq += 1
            return seq
        }
        func change(_ op: Change.Operation, _ id: String, _ name: String, _ age: Int64, mask: [Int]? = nil) -> Change {
            var change = person(id, name, age, site: "site-a", seq: next(), base: base)
            change.operation = op
            if let mask { change.changedColumns = ColumnSet(mask) }
            return change
        }
        let second: [Change] = [
            change(.update, "p1", "site edit", 1),  // conflict: staff changed it since base
            change(.update, "p2", "same", 2),  // unchanged, resend: staff made the same edit
            change(.update, "p3", "revived", 3),  // conflict: staff deleted it
            change(.update, "p4", "site 4 again", 40),  // apply
            change(.delete, "p5", "site 5", 5),  // tombstone
            change(.update, "p6", "site 6", 6),  // unchanged, no resend
            change(.update, "p7", "other name", 7, mask: [2]),  // unchanged: only age compared
            change(.update, "p8", "site 8", 80, mask: [2]),  // conflict: age differs, staff changed it
            change(.update, "p9", "site 9 edit", 9, mask: [1]),  // apply
            change(.delete, "p10", "x", 0),  // tombstone
            change(.insert, "p100", "new", 100),  // insert
            change(.delete, "p101", "never", 0),  // unchanged: never at the hub
            change(.update, "h1", "site h1", 1),  // conflict: made at the hub
            change(.update, "h2", "hub 2b", 2),  // unchanged, resend
            change(.insert, "p102", "new 2", 102),  // insert
        ]
        let report = try store.ingest(
            memoryBundle(
                id: "b2", site: "site-a", sequence: 2, changesThrough: seq, hubVersion: base,
                batches: [MemoryBatch(schema: peopleSchema, changes: second)]))
        return Outcome(
            counts: [report.applied, report.unchanged, report.conflicts, report.rejected, report.alreadyApplied],
            rows: try staff.query(
                "SELECT id, name, age::text, sync_deleted::text, sync_origin_client FROM people ORDER BY id"
            ).rows,
            conflicts: try staff.query(
                "SELECT client_id, table_name, pk::text, origin_seq::text, bundle_id, base_version::text, "
                    + "hub_version::text, hub_origin, incoming::text, hub_row::text, rule, decision "
                    + "FROM sync_control.conflicts ORDER BY id"
            ).rows,
            resends: try staff.query(
                "SELECT client_id, table_name, pk::text FROM sync_control.resend_rows ORDER BY pk::text"
            ).rows,
            versions: try staff.query(
                "SELECT count(DISTINCT sync_version)::text, count(*)::text FROM people"
            ).rows)
    }

    /// An update batch merged set-based through COPY gives the same hub state, conflicts and resends as the row
    /// path.
    @Test func updateBatchesThroughCopyMatchTheRowPath() throws {
        let rowPath = try run(copyThreshold: 0)
        let copyPath = try run(copyThreshold: 1)
        #expect(rowPath.counts == [6, 5, 4, 0, 0])
        #expect(copyPath == rowPath)
        #expect(rowPath.conflicts.count == 4)
        #expect(rowPath.resends.count == 2)
    }
}
