import FieldSyncBundle
import FieldSyncCore
import FieldSyncTesting
import Testing

@Suite struct RoundTripTests {
    static let schema = try! TableSchema(
        name: "samples",
        columns: [
            Column(name: "id", type: .integer, nullable: false), Column(name: "name", type: .text),
            Column(name: "score", type: .real), Column(name: "photo", type: .blob),
            Column(name: "seen_at", type: .timestamptz), Column(name: "amount", type: .numeric),
            Column(name: "active", type: .boolean), Column(name: "extra", type: .any),
        ],
        primaryKey: ["id"])

    static let values: [[Value]] = [
        [.integer(Int64.max), .text(""), .real(0.1), .blob([0, 1, 2, 0, 255]), .text("2024-03-01 10:00:00+03"),
         .text("12345678901234567890.000000001"), .integer(1), .integer(Int64.min)],
        [.integer(Int64.min), .null, .real(-0.0), .blob([]), .text("2024-03-01 10:00:00-09:30"), .null, .integer(0),
         .text("\\N")],
        [.integer(0), .text("tab\there\nnew line\r\\back\\slash \\N ü 日本 🎉"), .real(.infinity), .null, .null,
         .text("-0.00"), .null, .blob([0, 9, 10, 92])],
        [.integer(-1), .text("\u{0}nul"), .real(.leastNonzeroMagnitude), .blob(Array(0...255)), .null, .text("1e5"), .null, .real(2.5)],
        [.integer(7), .text("\\"), .real(.nan), .null, .null, .null, .null, .null],
    ]

    @Test func everyValueKindSurvives() throws {
        let directory = try TemporaryDirectory()
        let site = try NodeKeys.generate(id: "site-a")
        let hub = try NodeKeys.generate(id: "hub")
        let writer = try BundleWriter(
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
            tables: [Self.schema], sender: site, recipient: hub.identity)
        var written: [Change] = []
        for (index, row) in Self.values.enumerated() {
            let change = Change(
                operation: index == 4 ? .delete : .update, origin: "site-a", originSequence: Int64(index + 1),
                baseVersion: Int64(index), version: index == 2 ? nil : Int64.max - Int64(index),
                changedColumns: index == 1 ? ColumnSet([0, 3, 7]) : nil, values: row)
            try writer.append(change, to: "samples")
            written.append(change)
        }
        let result = try writer.finish()
        #expect(result.paths.count == 1)

        let reader = try BundleReader(paths: result.paths)
        try reader.verify(sender: site.identity)
        let contents = try reader.open(recipient: hub)
        var read: [Change] = []
        while let batch = try contents.nextBatch() {
            read += try batch.changes()
        }
        #expect(contents.index?.rows == written.count)
        #expect(read.count == written.count)
        for (a, b) in zip(written, read) {
            #expect(a.operation == b.operation)
            #expect(a.origin == b.origin && a.originSequence == b.originSequence && a.baseVersion == b.baseVersion)
            #expect(a.version == b.version)
            #expect(a.changedColumns == b.changedColumns)
            for (x, y) in zip(a.values, b.values) {
                #expect(x.isSameValue(as: y), "\(x) vs \(y)")
            }
        }
    }
}
