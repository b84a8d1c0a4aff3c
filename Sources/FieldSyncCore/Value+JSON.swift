import Foundation

/// A JSON text form of rows, for the hub's conflict and rejection records.
///
/// Integers and reals are JSON numbers (integers written exactly), text is a JSON string, a blob is
/// `{"hex": "…"}`, NULL is `null`. Meant for people and for re-reading by FieldSync, not for interchange.
extension Value {
    /// This value as JSON text.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .integer(let number): return String(number)
        case .real(let number):
            if number.isNaN { return "{\"real\":\"NaN\"}" }
            if number.isInfinite { return number < 0 ? "{\"real\":\"-Infinity\"}" : "{\"real\":\"Infinity\"}" }
            return number.description
        case .text(let text): return Self.jsonString(text)
        case .blob(let bytes):
            return "{\"hex\":\"\(Hex.encode(bytes))\"}"
        }
    }

    /// `values` as a JSON array.
    public static func jsonArray(_ values: [Value]) -> String {
        "[" + values.map(\.jsonText).joined(separator: ",") + "]"
    }

    /// `text` as a JSON string literal with the required escapes.
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Value {
    /// Reads back a value written by ``jsonText``: an integer stays an integer, a number with a fraction or an
    /// exponent is a real, `{"hex": …}` a blob, `{"real": "NaN"}` a special real. `nil` if the text is not one.
    public static func fromJSON(_ text: String) -> Value? {
        var parser = JSONValueParser(bytes: Array(text.utf8))
        guard let value = parser.value(), parser.atEnd else { return nil }
        return value
    }

    /// Reads a JSON object written by FieldSync (column name to ``jsonText``), keeping the order of its members.
    public static func objectFromJSON(_ text: String) -> [(name: String, value: Value)]? {
        var parser = JSONValueParser(bytes: Array(text.utf8))
        guard let members = parser.object(), parser.atEnd else { return nil }
        return members
    }

    /// Reads a JSON array written by ``jsonArray(_:)``.
    public static func arrayFromJSON(_ text: String) -> [Value]? {
        var parser = JSONValueParser(bytes: Array(text.utf8))
        guard let values = parser.array(), parser.atEnd else { return nil }
        return values
    }

    /// A value for a column of `type` from the text a person typed (`fieldsync conflicts resolve --set`):
    /// numbers as written, booleans as `true`/`false`/`1`/`0`, blobs as `\x` and hex digits, the rest as text.
    /// Throws a message naming what is wrong.
    public static func parse(_ text: String, as type: ColumnType) throws -> Value {
        func refuse(_ what: String) -> StoreError {
            StoreError(.schema, "'\(text)' is not \(what)")
        }
        switch type {
        case .integer:
            guard let number = Int64(text) else { throw refuse("an integer") }
            return .integer(number)
        case .real:
            guard let number = Double(text) else { throw refuse("a number") }
            return .real(number)
        case .boolean:
            switch text.lowercased() {
            case "true", "t", "1", "yes": return .integer(1)
            case "false", "f", "0", "no": return .integer(0)
            default: throw refuse("a boolean (true or false)")
            }
        case .blob:
            guard text.hasPrefix("\\x"), let bytes = Hex.decode(String(text.dropFirst(2))) else {
                throw refuse("bytes written as \\x and hex digits")
            }
            return .blob(bytes)
        case .any:
            if let number = Int64(text) { return .integer(number) }
            if let number = Double(text) { return .real(number) }
            return .text(text)
        default:
            if type == .json, fromJSONSyntaxCheck(text) == false { throw refuse("JSON") }
            return .text(text)
        }
    }

    private static func fromJSONSyntaxCheck(_ text: String) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
    }
}

/// A small JSON reader for FieldSync's own row JSON: it keeps number forms (an integer stays an integer), which
/// a general JSON parser does not promise.
struct JSONValueParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index == bytes.count
        }
    }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
    }

    mutating func value() -> Value? {
        skipSpace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case 0x22:
            return string().map(Value.text)
        case 0x7b:
            guard let members = object(), members.count == 1 else { return nil }
            switch (members[0].name, members[0].value) {
            case ("hex", .text(let digits)): return Hex.decode(digits).map(Value.blob)
            case ("real", .text("NaN")): return .real(.nan)
            case ("real", .text("Infinity")): return .real(.infinity)
            case ("real", .text("-Infinity")): return .real(-.infinity)
            default: return nil
            }
        case 0x6e:
            return literal("null") ? .null : nil
        case 0x74:
            return literal("true") ? .integer(1) : nil
        case 0x66:
            return literal("false") ? .integer(0) : nil
        default:
            return number()
        }
    }

    mutating func literal(_ word: String) -> Bool {
        let expected = Array(word.utf8)
        guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected
        else { return false }
        index += expected.count
        return true
    }

    mutating func number() -> Value? {
        let start = index
        var isReal = false
        while index < bytes.count {
            let byte = bytes[index]
            if (0x30...0x39).contains(byte) || byte == 0x2d || byte == 0x2b {
                index += 1
            } else if byte == 0x2e || byte == 0x65 || byte == 0x45 {
                isReal = true
                index += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if !isReal, let integer = Int64(text) { return .integer(integer) }
        return Double(text).map(Value.real)
    }

    mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == 0x22 else { return nil }
        index += 1
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case 0x22:
                return String(decoding: out, as: UTF8.self)
            case 0x5c:
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case 0x22, 0x5c, 0x2f: out.append(escape)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0c)
                case 0x6e: out.append(0x0a)
                case 0x72: out.append(0x0d)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var scalar = hex4() else { return nil }
                    if (0xd800..<0xdc00).contains(scalar), index + 1 < bytes.count, bytes[index] == 0x5c,
                        bytes[index + 1] == 0x75
                    {
                        index += 2
                        guard let low = hex4(), (0xdc00..<0xe000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    return nil
                }
            default:
                out.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { return nil }
        index += 4
        return value
    }

    mutating func object() -> [(name: String, value: Value)]? {
        skipSpace()
        guard index < bytes.count, bytes[index] == 0x7b else { return nil }
        index += 1
        var members: [(name: String, value: Value)] = []
        skipSpace()
        if index < bytes.count && bytes[index] == 0x7d {
            index += 1
            return members
        }
        while true {
            skipSpace()
            guard let name = string() else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == 0x3a else { return nil }
            index += 1
            guard let member = value() else { return nil }
            members.append((name, member))
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == 0x2c {
                index += 1
                continue
            }
            guard bytes[index] == 0x7d else { return nil }
            index += 1
            return members
        }
    }

    mutating func array() -> [Value]? {
        skipSpace()
        guard index < bytes.count, bytes[index] == 0x5b else { return nil }
        index += 1
        var values: [Value] = []
        skipSpace()
        if index < bytes.count && bytes[index] == 0x5d {
            index += 1
            return values
        }
        while true {
            guard let member = value() else { return nil }
            values.append(member)
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == 0x2c {
                index += 1
                continue
            }
            guard bytes[index] == 0x5d else { return nil }
            index += 1
            return values
        }
    }
}

/// The JSON form of one row that hub stores keep for conflicts and set-aside rows:
/// `{"op": "U", "values": {"column": value, …}}` with values as ``Value/jsonText``. A tombstone (`"D"`) carries
/// the key columns, and may carry the rest.
public enum RowJSON {
    public static func encode(operation: Change.Operation, columns: [String], values: [Value]) -> String {
        let fields = zip(columns, values).map { "\(Value.jsonString($0)):\($1.jsonText)" }
        return "{\"op\":\"\(operation.rawValue)\",\"values\":{\(fields.joined(separator: ","))}}"
    }

    /// The change's row over `schema`'s columns.
    public static func encode(_ change: Change, schema: TableSchema) -> String {
        encode(operation: change.operation, columns: schema.columns.map(\.name), values: change.values)
    }

    /// Reads a row written by ``encode(operation:columns:values:)``; `nil` if the text is not one.
    public static func decode(_ text: String)
        -> (operation: Change.Operation, values: [(name: String, value: Value)])?
    {
        var parser = JSONValueParser(bytes: Array(text.utf8))
        parser.skipSpace()
        guard parser.index < parser.bytes.count, parser.bytes[parser.index] == 0x7b else { return nil }
        parser.index += 1
        var operation: Change.Operation?
        var values: [(name: String, value: Value)]?
        while true {
            parser.skipSpace()
            guard let name = parser.string() else { return nil }
            parser.skipSpace()
            guard parser.index < parser.bytes.count, parser.bytes[parser.index] == 0x3a else { return nil }
            parser.index += 1
            switch name {
            case "op":
                guard case .text(let code)? = parser.value(), let parsed = Change.Operation(rawValue: code) else {
                    return nil
                }
                operation = parsed
            case "values":
                guard let members = parser.object() else { return nil }
                values = members
            default:
                return nil
            }
            parser.skipSpace()
            guard parser.index < parser.bytes.count else { return nil }
            if parser.bytes[parser.index] == 0x2c {
                parser.index += 1
                continue
            }
            guard parser.bytes[parser.index] == 0x7d else { return nil }
            parser.index += 1
            break
        }
        guard parser.atEnd, let operation, let values else { return nil }
        return (operation, values)
    }

    /// The values of a decoded row in the order of `columns` (a missing column is NULL).
    public static func values(_ members: [(name: String, value: Value)], in columns: [String]) -> [Value] {
        let byName = Dictionary(members.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        return columns.map { byName[$0] ?? .null }
    }
}
