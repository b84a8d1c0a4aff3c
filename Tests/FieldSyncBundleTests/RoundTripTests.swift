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
        [
            .integer(Int64.max), .text(""), .real(0.1), .blob([0, 1, 2, 0, 255]), .text("2024-03-01 10:00:00+03"),
            .text("12345678901234567890.000000001"), .integer(1), .integer(Int64.min),
        ],
        [
            .integer(Int64.min), .null, .real(-0.0), .blob([]), .text("2024-03-01 10:00:00-09:30"), .null, .integer(0),
            .text("\\N"),
        ],
        [
            .integer(0), .text("tab\there\nnew line\r\\back\\slash \\N ü 日本 🎉"), .real(.infinity), .null, .null,
            .text("-0.00"), .null, .blob([0, 9, 10, 92]),
        ],
        [
            .integer(-1), .text("\u{0}nul"), .real(.leastNonzeroMagnitude), .blob(Array(0...255)), .null, .text("1e5"),
            .null, .real(2.5),
        ],
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
                #expect(x.isIdentical(to: y), "\(x) vs \(y)")
            }
        }
    }

    // MARK: - Every column type

    /// Values each column type must carry exactly, by type name. A new column type fails
    /// `samplesCoverEveryColumnType` until it gets its own list here.
    static let samples: [String: [Value]] = {
        let controls = String(decoding: Array(1...31) + [127], as: UTF8.self)
        var random = SeededGenerator(seed: 0xB10B)
        let bigBlob = random.bytes(100_000)
        return [
            "integer": [
                .null, .integer(0), .integer(1), .integer(-1), .integer(.min), .integer(.max), .integer(.min + 1),
                .integer(.max - 1),
            ],
            "real": [
                .null, .real(0), .real(-0.0), .real(.nan), .real(.infinity), .real(-.infinity), .real(0.1),
                .real(-0.1), .real(1.0 / 3), .real(.leastNonzeroMagnitude), .real(-.leastNonzeroMagnitude),
                .real(Double.leastNormalMagnitude.nextDown), .real(.leastNormalMagnitude),
                .real(.greatestFiniteMagnitude), .real(-.greatestFiniteMagnitude), .real(1e16), .real(1e-300),
                .real(123_456_789.123_456_789), .real(Double(Int64.max)), .real(.ulpOfOne), .real(1),
            ],
            "text": [
                .null, .text(""), .text("\\N"), .text("\\"), .text("\\\\N"), .text("N"), .text("NULL"),
                .text("\t"), .text("\n"), .text("\r"), .text("\r\n"), .text("a\tb\nc\rd\\e"), .text("\\."),
                .text("\u{0}"), .text("nul\u{0}inside\u{0}"), .text("\\000"), .text("\\x00"), .text(controls),
                .text("ü 日本 🎉 👩‍👩‍👧 e\u{301} \u{E9} \u{202E}rtl"), .text("\u{FEFF}bom"), .text("\u{2028}\u{2029}"),
                .text(" padded "), .text("i:5"), .text(String(repeating: "long line\twith tab ", count: 20_000)),
            ],
            "blob": [
                .null, .blob([]), .blob([0]), .blob([0, 0, 0]), .blob(Array(0...255)), .blob(Array("\\N".utf8)),
                .blob([10, 9, 13, 92]), .blob(Array(repeating: 0, count: 1000)), .blob(bigBlob),
            ],
            "numeric": [
                .null, .text("0"), .text("-0.00"), .text("0.10"), .text("12345678901234567890.000000001"),
                .text("1e5"), .text("-1.5E-10"), .text("NaN"), .text("Infinity"),
                .text("9" + String(repeating: "8", count: 999) + ".0000000000000000000001"),
            ],
            "boolean": [.null, .integer(0), .integer(1)],
            "date": [
                .null, .text("2024-02-29"), .text("0001-01-01"), .text("9999-12-31"), .text("0044-03-15 BC"),
                .text("infinity"),
            ],
            "timestamp": [
                .null, .text("2024-03-01 10:00:00"), .text("2024-03-01 10:00:00.123456"),
                .text("2024-03-01T10:00:00"), .text("-infinity"),
            ],
            "timestamptz": [
                .null, .text("2024-03-01 10:00:00+03"), .text("2024-03-01 10:00:00-09:30"),
                .text("2024-03-01 10:00:00+05:45"), .text("2024-03-01T10:00:00.000001Z"),
                .text("2016-12-31 23:59:60+14:00"), .text("1970-01-01 00:00:00+00"),
                .text("2024-10-27 02:30:00 Europe/Berlin"),
            ],
            "uuid": [
                .null, .text("00000000-0000-0000-0000-000000000000"), .text("f47ac10b-58cc-4372-a567-0e02b2c3d479"),
                .text("F47AC10B-58CC-4372-A567-0E02B2C3D479"),
            ],
            "json": [
                .null, .text("{}"), .text("{\"a\":\"tab\\there\",\"b\":[1,2.50,null],\"c\":\"\\u0000\"}"),
                .text("[\n  1,\n\t2\r\n]"), .text("\"ü\""), .text("null"),
            ],
            "any": [
                .null, .integer(.min), .integer(.max), .integer(0), .real(-0.0), .real(0), .real(.nan),
                .real(.infinity), .real(-.infinity), .real(.leastNonzeroMagnitude), .real(0.1), .real(1),
                .text(""), .text("\\N"), .text("i:5"), .text("tab\tnl\ncr\r\\"), .text("\u{0}"), .text("日本"),
                .blob([]), .blob([0]), .blob(Array(0...255)),
            ],
        ]
    }()

    @Test func samplesCoverEveryColumnType() {
        for type in ColumnType.allTypes {
            #expect(Self.samples[type.name] != nil, "no round-trip samples for column type \(type)")
        }
    }

    @Test(arguments: ColumnType.allTypes)
    func columnTypeKeepsEveryValueExactly(_ type: ColumnType) throws {
        let values = try #require(Self.samples[type.name])
        let table = try TableSchema(
            name: "t_\(type.name)",
            columns: [Column(name: "id", type: .integer, nullable: false), Column(name: "v", type: type)],
            primaryKey: ["id"])
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let changes = values.enumerated().map { index, value in
            TableChange(
                table: table.name,
                change: Change(
                    operation: .insert, origin: "site-a", originSequence: Int64(index + 1),
                    values: [.integer(Int64(index)), value]))
        }
        // Small batches, so values also cross batch boundaries.
        let result = try BundleFixtures.write(
            changes, tables: [table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path, batchSize: 256),
            sender: keys.site, recipient: keys.hub.identity)
        let (read, contents) = try BundleFixtures.readAll(
            result.paths, sender: keys.site.identity, recipient: keys.hub)
        #expect(read.count == values.count)
        #expect(contents.manifest.tables == [table])
        for (index, (written, back)) in zip(changes, read).enumerated() {
            #expect(
                written.change.values[1].isIdentical(to: back.change.values[1]),
                "\(type) sample \(index): wrote \(written.change.values[1]), read \(back.change.values[1])")
        }
    }

    /// A value whose kind differs from its column's storage is written in the column's canonical form.
    struct Conversion: Sendable, CustomTestStringConvertible {
        var type: ColumnType
        var written: Value
        var read: Value
        var testDescription: String { "\(written) in \(type) column" }
    }

    @Test(arguments: [
        Conversion(type: .real, written: .integer(5), read: .real(5)),
        Conversion(type: .real, written: .integer(-7), read: .real(-7)),
        Conversion(type: .text, written: .integer(.min), read: .text("-9223372036854775808")),
        Conversion(type: .numeric, written: .integer(.max), read: .text("9223372036854775807")),
        Conversion(type: .numeric, written: .real(0.1), read: .text("0.1")),
        Conversion(type: .text, written: .real(-0.0), read: .text("-0.0")),
        Conversion(type: .boolean, written: .text("true"), read: .integer(1)),
        Conversion(type: .boolean, written: .text("F"), read: .integer(0)),
        Conversion(type: .boolean, written: .text("1"), read: .integer(1)),
    ])
    func valuesAreConvertedToTheirColumnsForm(_ conversion: Conversion) throws {
        let table = try TableSchema(
            name: "t",
            columns: [Column(name: "id", type: .integer), Column(name: "v", type: conversion.type)],
            primaryKey: ["id"])
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let change = Change(
            operation: .insert, origin: "site-a", originSequence: 1, values: [.integer(1), conversion.written])
        let result = try BundleFixtures.write(
            [TableChange(table: "t", change: change)], tables: [table],
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
            sender: keys.site, recipient: keys.hub.identity)
        let read = try BundleFixtures.readAll(result.paths, sender: keys.site.identity, recipient: keys.hub).changes
        let value = try #require(read.first?.change.values[1])
        #expect(value.isIdentical(to: conversion.read), "read \(value)")
    }

    struct Mismatch: Sendable, CustomTestStringConvertible {
        var type: ColumnType
        var value: Value
        var testDescription: String { "\(value) in \(type) column" }
    }

    @Test(arguments: [
        Mismatch(type: .integer, value: .text("12")), Mismatch(type: .integer, value: .real(1)),
        Mismatch(type: .integer, value: .blob([1])), Mismatch(type: .boolean, value: .integer(2)),
        Mismatch(type: .boolean, value: .text("yes")), Mismatch(type: .boolean, value: .real(1)),
        Mismatch(type: .text, value: .blob([0x41])), Mismatch(type: .blob, value: .text("secret-row-data")),
        Mismatch(type: .real, value: .text("1.5")), Mismatch(type: .date, value: .real(1)),
    ])
    func aValueItsColumnCannotCarryIsRefusedWhenWriting(_ mismatch: Mismatch) throws {
        let table = try TableSchema(
            name: "t", columns: [Column(name: "id", type: .integer), Column(name: "v", type: mismatch.type)],
            primaryKey: ["id"])
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let writer = try BundleWriter(
            configuration: .init(kind: .delta, sequence: 1, directory: directory.path), tables: [table],
            sender: keys.site, recipient: keys.hub.identity)
        let error = #expect(throws: BundleError.self) {
            try writer.append(
                Change(operation: .insert, origin: "site-a", originSequence: 9, values: [.integer(1), mismatch.value]),
                to: "t")
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'v'") == true, "the message names the column")
        #expect(error?.description.contains("secret-row-data") == false, "the message never holds row data")
        writer.abort()
        #expect(try directory.contents().isEmpty)
    }

    // MARK: - Change fields, batches, tables

    @Test func changeFieldsSurviveIncludingWideColumnSets() throws {
        let columns = (0..<70).map { Column(name: "c\($0)", type: .integer) }
        let wide = try TableSchema(name: "wide", columns: columns, primaryKey: ["c0"])
        let row: [Value] = (0..<70).map { .integer(Int64($0)) }
        let shapes: [(Change.Operation, Int64?, ColumnSet?, Int64, Int64)] = [
            (.insert, nil, nil, 0, 1),
            (.update, Int64.max, ColumnSet(), Int64.max, Int64.max),
            (.update, Int64.min, ColumnSet([0]), Int64.min, Int64.min),
            (.update, 0, ColumnSet([0, 63, 64, 69]), -1, 0),
            (.delete, 42, ColumnSet(0..<70), 7, -5),
        ]
        let changes = shapes.map { operation, version, changed, base, sequence in
            TableChange(
                table: "wide",
                change: Change(
                    operation: operation, origin: "site_A-9", originSequence: sequence, baseVersion: base,
                    version: version, changedColumns: changed, values: row))
        }
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let result = try BundleFixtures.write(
            changes, tables: [wide], configuration: .init(kind: .return, sequence: 3, directory: directory.path),
            sender: keys.hub, recipient: keys.site.identity)
        let read = try BundleFixtures.readAll(result.paths, sender: keys.hub.identity, recipient: keys.site).changes
        #expect(BundleFixtures.identical(read, changes))
        // An empty set of changed columns is not the same as "all columns".
        #expect(read[0].change.changedColumns == nil)
        #expect(read[1].change.changedColumns?.isEmpty == true)
    }

    @Test func batchesKeepTheirOrderAcrossTablesAndTheIndexAddsUp() throws {
        let a = try TableSchema(
            name: "a", columns: [Column(name: "id", type: .integer), Column(name: "t", type: .text)],
            primaryKey: ["id"])
        let b = try TableSchema(
            name: "b", columns: [Column(name: "id", type: .integer), Column(name: "r", type: .real)],
            primaryKey: ["id"])
        var changes: [TableChange] = []
        var sequence: Int64 = 0
        for (table, count) in [("a", 40), ("b", 5), ("a", 3), ("b", 60)] {
            for index in 0..<count {
                sequence += 1
                let value: Value = table == "a" ? .text("row \(index)\twith tab") : .real(Double(index) / 7)
                changes.append(
                    TableChange(
                        table: table,
                        change: Change(
                            operation: .insert, origin: "site-a", originSequence: sequence, version: sequence * 10,
                            values: [.integer(Int64(index)), value])))
            }
        }
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let result = try BundleFixtures.write(
            changes, tables: [a, b],
            configuration: .init(kind: .snapshot, sequence: 1, directory: directory.path, batchSize: 300),
            sender: keys.site, recipient: keys.hub.identity)
        #expect(result.index.rows == changes.count)
        #expect(result.index.batches.count > 4, "small batches split each run of a table")
        for (number, batch) in result.index.batches.enumerated() {
            #expect(batch.entry == HostilePayload.batchName(number + 1, table: batch.table))
        }
        let (read, contents) = try BundleFixtures.readAll(
            result.paths, sender: keys.site.identity, recipient: keys.hub)
        #expect(BundleFixtures.identical(read, changes))
        #expect(contents.index == result.index)
        #expect(contents.manifest.tables.map(\.name) == ["a", "b"])
        let first = try #require(result.index.batches.first)
        #expect(first.originSequence?.min == 1 && first.originSequence?.max == Int64(first.rows))
        #expect(first.version?.min == 10 && first.version?.max == Int64(first.rows) * 10)
    }

    @Test func anEmptyBundleRoundTrips() throws {
        let keys = try KeyFixtures()
        let directory = try TemporaryDirectory()
        let result = try BundleFixtures.write(
            [], tables: [Self.schema], configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
            sender: keys.site, recipient: keys.hub.identity)
        let (read, contents) = try BundleFixtures.readAll(
            result.paths, sender: keys.site.identity, recipient: keys.hub)
        #expect(read.isEmpty)
        #expect(contents.index?.batches.isEmpty == true && contents.index?.rows == 0)
    }

    @Test func headerAndManifestCarryWhatTheWriterWasGiven() throws {
        let keys = try KeyFixtures()
        let site = try NodeKeys.generate(id: "site-a", epoch: 4)
        let directory = try TemporaryDirectory()
        let writer = try BundleWriter(
            configuration: .init(
                kind: .delta, sequence: 77, prerequisites: ["acknowledged": 12, "since": -3],
                properties: ["note": "tab\tand ü"], directory: directory.path),
            tables: [Self.schema], sender: site, recipient: keys.hub.identity)
        let result = try writer.finish()
        #expect(result.paths == [directory.file("site-a-to-hub-00000077.fsb")])
        let reader = try BundleReader(paths: result.paths)
        #expect(reader.header == result.header)
        #expect(reader.header.format == "fieldsync-bundle" && reader.header.version == 1)
        #expect(reader.header.sender == "site-a" && reader.header.recipient == "hub")
        #expect(reader.header.sequence == 77 && reader.header.kind == .delta)
        #expect(reader.header.keyEpoch == 4 && reader.header.recipientKeyEpoch == 1)
        #expect(reader.header.prerequisites == ["acknowledged": 12, "since": -3])
        #expect(reader.totalSize == result.bytes)
        try reader.verify(sender: site.identity)
        let contents = try reader.open(recipient: keys.hub)
        #expect(contents.manifest.properties == ["note": "tab\tand ü"])
        #expect(contents.manifest.sender == "site-a" && contents.manifest.bundleID == reader.header.bundleID)
        #expect(try contents.nextBatch() == nil)
    }
}
