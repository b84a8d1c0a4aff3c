import FieldSyncCore
import FieldSyncTesting
import Foundation
import Testing

@testable import FieldSyncBundle

/// The signed header and trailer are read by one strict JSON reader: whatever two JSON parsers could read
/// differently (a byte-order mark, UTF-16, a key twice, `007`, `5.`, `4.0` for an integer, bytes after the value)
/// is refused, even when the sender signed it; and every number is checked against its field's range, so none
/// can trap a store later.
@Suite struct StrictHeaderTests {
    /// A one-part bundle from `site-a` (sequence 1, no prerequisites) whose header a test edits and re-signs.
    struct Fixture {
        let keys: KeyFixtures
        let directory: TemporaryDirectory
        let paths: [String]
        var image: BundleImage

        init() throws {
            keys = try KeyFixtures()
            directory = try TemporaryDirectory()
            let data = try BundleFixtures.randomBlobs(count: 2, blobSize: 100, seed: 9)
            paths = try BundleFixtures.write(
                data.changes, tables: [data.table],
                configuration: .init(kind: .delta, sequence: 1, directory: directory.path),
                sender: keys.site, recipient: keys.hub.identity
            ).paths
            image = try BundleImage(paths: paths)
        }

        var headerText: String { String(decoding: image.parts[0].headerBytes, as: UTF8.self) }

        /// Sets the header bytes of every part, re-signs them as the sender and writes them.
        mutating func setHeader(_ bytes: [UInt8]) throws {
            for index in image.parts.indices {
                image.parts[index].headerBytes = bytes
                try image.resign(part: index, signer: keys.site)
            }
            try image.write()
        }

        /// Reads, verifies and decrypts the bundle to its end.
        func read() -> Outcome {
            outcome { try BundleFixtures.readAll(paths, sender: keys.site.identity, recipient: keys.hub) }
        }
    }

    /// Header edits that a lenient reader would accept; each must be refused as not a bundle.
    static let lenientHeaders: [(String, @Sendable (String) -> [UInt8])] = [
        ("a UTF-8 byte-order mark", { [0xEF, 0xBB, 0xBF] + Array($0.utf8) }),
        ("UTF-16 with a byte-order mark", { [0xFF, 0xFE] + $0.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }),
        ("UTF-16 without one", { $0.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }),
        (
            "a key twice",
            { Array($0.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":1,\"sequence\":2").utf8) }
        ),
        (
            "a key twice, same value",
            {
                Array(
                    $0.replacingOccurrences(of: "\"kind\":\"delta\"", with: "\"kind\":\"delta\",\"kind\":\"delta\"")
                        .utf8)
            }
        ),
        ("a leading zero", { Array($0.replacingOccurrences(of: "\"key_epoch\":1", with: "\"key_epoch\":001").utf8) }),
        ("a trailing dot", { Array($0.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":1.").utf8) }),
        ("4.0 for an integer", { Array($0.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":1.0").utf8) }),
        (
            "an exponent for an integer",
            { Array($0.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":1e0").utf8) }
        ),
        ("-0 for an integer", { Array($0.replacingOccurrences(of: "\"version\":1", with: "\"version\":-0").utf8) }),
        ("a second value after the object", { Array(($0 + "{}").utf8) }),
        ("a stray byte after the object", { Array(($0 + "x").utf8) }),
        (
            "a raw control character in a string",
            { Array($0.replacingOccurrences(of: "\"delta\"", with: "\"del\u{1}ta\"").utf8) }
        ),
        ("an invalid escape", { Array($0.replacingOccurrences(of: "\"delta\"", with: "\"del\\ta\\q\"").utf8) }),
        (
            "a lone surrogate escape",
            { Array($0.replacingOccurrences(of: "\"created\":\"", with: "\"created\":\"\\ud800").utf8) }
        ),
        ("a trailing comma", { Array($0.replacingOccurrences(of: "}", with: ",}").utf8) }),
    ]

    @Test(arguments: 0..<lenientHeaders.count)
    func aHeaderTwoJSONReadersCouldReadDifferentlyIsRefused(_ index: Int) throws {
        let (what, edit) = Self.lenientHeaders[index]
        var fixture = try Fixture()
        let edited = edit(fixture.headerText)
        #expect(edited != Array(fixture.headerText.utf8), "\(what): the edit changed nothing")
        try fixture.setHeader(edited)
        let result = fixture.read()
        #expect(result.code == .notABundle, "\(what): \(result)")
        #expect(result.error?.path == fixture.paths[0], "\(what): the refusal names the file")
    }

    @Test func theResignedHeaderUnchangedReads() throws {
        // The control: re-signing is not what the tests above detect.
        var fixture = try Fixture()
        try fixture.setHeader(Array(fixture.headerText.utf8))
        #expect(fixture.read().code == nil, "\(fixture.read())")
        // JSON whitespace around the value is part of the JSON grammar, and is read.
        try fixture.setHeader(Array((" \n" + fixture.headerText + "\r\n").utf8))
        #expect(fixture.read().code == nil, "\(fixture.read())")
    }

    @Test(arguments: [
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999999999",
        "-1", "0", "4.5", "1e3", "-9223372036854775809", "\"7\"", "null",
    ])
    func aSequenceOutsideOneToTwoToTheSixtyThreeIsRefusedNamingTheField(_ sequence: String) throws {
        var fixture = try Fixture()
        let text = fixture.headerText.replacingOccurrences(of: "\"sequence\":1", with: "\"sequence\":\(sequence)")
        try fixture.setHeader(Array(text.utf8))
        let result = fixture.read()
        #expect(result.code == .notABundle, "\(sequence): \(result)")
        #expect(result.error?.message.contains("'sequence'") == true, "\(sequence): \(result)")
        // Inspecting without keys refuses it the same way, and never traps.
        let inspected = outcome { _ = try BundleReader.inspectPart(at: fixture.paths[0]) }
        #expect(inspected.code == .notABundle, "\(sequence): \(inspected)")
    }

    @Test func theLargestSequenceReads() throws {
        var fixture = try Fixture()
        let text = fixture.headerText.replacingOccurrences(
            of: "\"sequence\":1", with: "\"sequence\":\(Int64.max)")
        try fixture.setHeader(Array(text.utf8))
        #expect(fixture.read().code == nil, "\(fixture.read())")
        #expect(try BundleReader.inspectPart(at: fixture.paths[0]).header.sequence == UInt64(Int64.max))
    }

    @Test(arguments: [
        ("key_epoch", "\"key_epoch\":1", "\"key_epoch\":4294967296"),
        ("key_epoch", "\"key_epoch\":1", "\"key_epoch\":-1"),
        ("recipient_key_epoch", "\"recipient_key_epoch\":1", "\"recipient_key_epoch\":1.5"),
        ("prerequisites", "\"prerequisites\":{}", "\"prerequisites\":{\"hub_version\":9223372036854775808}"),
        ("prerequisites", "\"prerequisites\":{}", "\"prerequisites\":{\"hub_version\":2.0}"),
        ("hub_version", "\"prerequisites\":{}", "\"prerequisites\":{\"hub_version\":1,\"hub_version\":2}"),
        ("chunk_size", "\"chunk_size\":65536", "\"chunk_size\":99999999999999"),
        ("chunk_size", "\"chunk_size\":65536", "\"chunk_size\":-65536"),
        ("chunk_size", "\"chunk_size\":65536", "\"chunk_size\":9223372036854775808"),
        ("version", "\"version\":1", "\"version\":1.0"),
    ])
    func anyOtherHeaderNumberOutOfRangeIsRefusedNamingTheField(_ field: String, _ old: String, _ new: String) throws {
        var fixture = try Fixture()
        #expect(fixture.headerText.contains(old))
        try fixture.setHeader(Array(fixture.headerText.replacingOccurrences(of: old, with: new).utf8))
        let result = fixture.read()
        #expect(result.code == .notABundle, "\(new): \(result)")
        #expect(result.error?.message.contains(field) == true, "\(new): \(result)")
    }

    @Test func anUnknownHeaderKeyIsReadAndIgnored() throws {
        // §5: a header may gain informational keys without a capability; they are signed, and readers skip them.
        var fixture = try Fixture()
        let text = "{\"comment\":\"from the field\"," + fixture.headerText.dropFirst()
        try fixture.setHeader(Array(text.utf8))
        #expect(fixture.read().code == nil, "\(fixture.read())")
    }

    static let trailerEdits: [(String, @Sendable (String) -> String)] = [
        ("an unknown key", { (text: String) in text.replacingOccurrences(of: "{", with: "{\"extra\":1,") }),
        (
            "a key twice",
            { (text: String) in text.replacingOccurrences(of: "\"part\":1", with: "\"part\":1,\"part\":1") }
        ),
        ("4.0 for an integer", { (text: String) in text.replacingOccurrences(of: "\"part\":1", with: "\"part\":1.0") }),
        (
            "a huge part number",
            { (text: String) in text.replacingOccurrences(of: "\"part\":1", with: "\"part\":18446744073709551616") }
        ),
        ("a negative length", { (text: String) in text.replacingOccurrences(of: "\"length\":", with: "\"length\":-") }),
    ]

    @Test(arguments: 0..<trailerEdits.count)
    func aTrailerWithAnUnknownKeyOrALenientNumberIsRefused(_ index: Int) throws {
        let (what, edit) = Self.trailerEdits[index]
        var fixture = try Fixture()
        let old = String(decoding: fixture.image.parts[0].trailerBytes, as: UTF8.self)
        let new = edit(old)
        #expect(new != old, "\(what)")
        fixture.image.parts[0].trailerBytes = Array(new.utf8)
        try fixture.image.resign(part: 0, signer: fixture.keys.site)
        try fixture.image.write()
        let result = fixture.read()
        #expect(result.code == .notABundle, "\(what): \(result)")
    }
}

/// The strict JSON reader on its own.
@Suite struct StrictJSONTests {
    @Test(arguments: [
        "{\"a\":1}", "[]", "{}", "[1,-2,0,0.5,-0.25,1e5,1E-5,2.5e+3]", "\"\\u00e9\\ud83d\\ude00\\n\"", "true", "null",
        " {\"a\" : [ 1 , 2 ] } ", "{\"a\":{\"a\":1}}",
    ])
    func validJSONParses(_ text: String) throws {
        _ = try StrictJSON.parse(Array(text.utf8))
    }

    @Test(arguments: [
        "", " ", "{", "{\"a\":1,}", "[1,]", "{\"a\":1,\"a\":1}", "{\"a\":1,\"\\u0061\":2}",
        "{\"\u{E9}\":1,\"e\u{301}\":2}",
        "007", "[01]", "5.", "[.5]", "[+1]", "-", "1e", "1e+", "NaN", "Infinity", "[1 2]", "{\"a\" 1}", "'a'",
        "\"\\x41\"", "\"\\ud800\"", "\"\\udc00\\ud800\"", "\"a\u{7}b\"", "{}{}", "{} x", "tru", "nul",
        "\u{FEFF}{}",
    ])
    func invalidOrAmbiguousJSONIsRefused(_ text: String) {
        #expect(throws: StrictJSONError.self, "\(text.debugDescription)") { try StrictJSON.parse(Array(text.utf8)) }
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(throws: StrictJSONError.self) { try StrictJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: StrictJSONError.self) { try StrictJSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: StrictJSONError.self) { try StrictJSON.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(throws: Never.self) { try StrictJSON.parse(Array(fine.utf8)) }
    }

    struct Sample: Decodable {
        var small: UInt8
        var big: Int64
        var name: String
        var list: [Int]
    }

    @Test func integersMustBeIntegerLiteralsThatFit() throws {
        let decoder = StrictJSONDecoder(refusesUnknownKeys: true)
        let good = try decoder.decode(
            Sample.self, from: Array("{\"small\":255,\"big\":-9223372036854775808,\"name\":\"x\",\"list\":[1]}".utf8))
        #expect(good.small == 255 && good.big == Int64.min)
        for (text, field) in [
            ("{\"small\":256,\"big\":0,\"name\":\"x\",\"list\":[]}", "small"),
            ("{\"small\":1.0,\"big\":0,\"name\":\"x\",\"list\":[]}", "small"),
            ("{\"small\":1,\"big\":9223372036854775808,\"name\":\"x\",\"list\":[]}", "big"),
            ("{\"small\":1,\"big\":0,\"name\":\"x\",\"list\":[1,2.5]}", "list.1"),
            ("{\"small\":1,\"big\":0,\"name\":7,\"list\":[]}", "name"),
            ("{\"small\":1,\"big\":0,\"list\":[]}", "name"),
            ("{\"small\":1,\"big\":0,\"name\":\"x\",\"list\":[],\"more\":1}", "more"),
        ] {
            let error = #expect(throws: StrictJSONError.self) {
                try decoder.decode(Sample.self, from: Array(text.utf8))
            }
            #expect(error?.message.contains("'\(field)'") == true, "\(text): \(String(describing: error))")
        }
        // Unknown keys are skipped only when asked to.
        let lenient = StrictJSONDecoder(refusesUnknownKeys: false)
        _ = try lenient.decode(
            Sample.self, from: Array("{\"small\":1,\"big\":0,\"name\":\"x\",\"list\":[],\"more\":1}".utf8))
    }
}
