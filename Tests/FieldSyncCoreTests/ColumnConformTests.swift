import FieldSyncCore
import Testing

/// ``ColumnType/conformed(_:)``: what each column type takes at a hub, and the form it keeps.
@Suite struct ColumnConformTests {
    static let accepted: [(ColumnType, Value, Value)] = [
        (.integer, .text(" 42 "), .integer(42)), (.integer, .text("-7"), .integer(-7)),
        (.integer, .integer(5), .integer(5)), (.real, .text("2.5e3"), .real(2500)), (.real, .integer(3), .real(3)),
        (.numeric, .text("-12.50"), .text("-12.50")), (.numeric, .text("NaN"), .text("NaN")),
        (.boolean, .text("Yes"), .integer(1)), (.boolean, .text("off"), .integer(0)),
        (.boolean, .integer(1), .integer(1)),
        (.date, .text("2024-02-29"), .text("2024-02-29")),
        (.timestamp, .text("2024-03-01 10:00"), .text("2024-03-01 10:00")),
        (.timestamp, .text("2024-03-01T10:00:00.123456Z"), .text("2024-03-01T10:00:00.123456Z")),
        (.timestamptz, .text("2024-03-01T10:00:00+05:30"), .text("2024-03-01T10:00:00+05:30")),
        (.timestamptz, .text("infinity"), .text("infinity")),
        (.uuid, .text("123E4567-E89B-12D3-A456-426614174000"), .text("123E4567-E89B-12D3-A456-426614174000")),
        (.uuid, .text("123e4567e89b12d3a456426614174000"), .text("123e4567-e89b-12d3-a456-426614174000")),
        (.json, .text("[1, {\"a\": null}]"), .text("[1, {\"a\": null}]")), (.json, .integer(4), .text("4")),
        (.text, .integer(4), .integer(4)), (.blob, .blob([0, 1]), .blob([0, 1])), (.any, .blob([1]), .blob([1])),
        (.integer, .null, .null),
    ]

    static let refused: [(ColumnType, Value)] = [
        (.integer, .text("about 4")), (.integer, .real(4.5)), (.integer, .text("99999999999999999999")),
        (.integer, .blob([1])), (.real, .text("four")), (.real, .text("0x1p3")), (.real, .text("1e400")),
        (.numeric, .text("1.2.3")), (.numeric, .text("")), (.boolean, .text("maybe")), (.boolean, .integer(2)),
        (.boolean, .real(1)), (.date, .text("2023-02-29")), (.date, .text("01/02/2024")), (.date, .integer(20240101)),
        (.timestamp, .text("yesterday")), (.timestamp, .text("2024-01-01 25:00")),
        (.timestamptz, .text("2024-01-01T10:00:00+5")), (.uuid, .text("not-a-uuid")),
        (.uuid, .text("123e4567-e89b-12d3-a456-42661417400")), (.json, .text("{oops")), (.json, .real(.nan)),
        (.blob, .text("abc")), (.text, .blob([1])), (.text, .text("a\u{0}b")), (.any, .text("\u{0}")),
    ]

    @Test func acceptedValuesTakeTheirColumnsForm() throws {
        for (type, value, expected) in Self.accepted {
            #expect(try type.conformed(value).get() == expected, "\(type) \(value)")
        }
    }

    @Test func refusedValuesSayWhy() {
        for (type, value) in Self.refused {
            guard case .failure(let refusal) = type.conformed(value) else {
                Issue.record("\(type) accepted \(value)")
                continue
            }
            #expect(!refusal.detail.isEmpty)
        }
    }

    @Test func aChangeIsRefusedNamingTheColumn() throws {
        let schema = try TableSchema(
            name: "households",
            columns: [Column(name: "id", type: .text, nullable: false), Column(name: "size", type: .integer)],
            primaryKey: ["id"])
        let change = Change(operation: .insert, origin: "site-a", originSequence: 1, values: [.text("h1"), .text("x")])
        guard case .failure(let refusal) = schema.conformed(change) else {
            Issue.record("accepted")
            return
        }
        #expect(refusal.column == "size")
        #expect(refusal.reason.contains("column 'size' of table 'households' is integer at the hub"))
        // A tombstone's values other than its key mean nothing.
        var delete = change
        delete.operation = .delete
        #expect(try schema.conformed(delete).get().values == [.text("h1"), .text("x")])
    }
}
