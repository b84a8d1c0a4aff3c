import FieldSyncCore
import Testing

@Suite struct CoreValueTests {
    @Test func columnSetKeepsItsIndexes() {
        let set = ColumnSet([0, 3, 63, 64, 130])
        #expect(set.indexes == [0, 3, 63, 64, 130])
        #expect(set.contains(64) && !set.contains(65))
        #expect(ColumnSet().isEmpty)
    }

    @Test func schemaRefusesBadNamesAndMissingKeys() {
        #expect(throws: SchemaError.self) {
            try TableSchema(name: "bad name", columns: [Column(name: "id", type: .integer)], primaryKey: ["id"])
        }
        #expect(throws: SchemaError.self) {
            try TableSchema(name: "t", columns: [Column(name: "id", type: .integer)], primaryKey: ["nope"])
        }
        #expect(throws: SchemaError.self) {
            try TableSchema(name: "t", columns: [Column(name: "id", type: .integer)], primaryKey: [])
        }
    }

    @Test func identifiersAreQuoted() {
        #expect(Identifier.quoted("beneficiaries") == "\"beneficiaries\"")
        #expect(Identifier.quoted("a\"b") == "\"a\"\"b\"")
        #expect(Identifier.isValidNodeID("site-nairobi_01"))
        #expect(!Identifier.isValidNodeID("../etc"))
        #expect(!Identifier.isValidNodeID(""))
    }
}
