import FieldSyncCore

/// Decodes `Decodable` types from JSON read by ``StrictJSON``, with the format's rules for numbers and keys.
///
/// - An integer field takes only an integer literal (`4`, `-5`; never `4.0`, `4e0` or `-0`) whose value fits the
///   field's type; anything else is refused, naming the field, rather than rounded, truncated or trapped on.
/// - With ``refusesUnknownKeys``, an object key the type does not read is refused, naming it.
///
/// Errors are ``StrictJSONError`` whose message names the field (`field 'tables.0.name': …`). Errors a type's own
/// `init(from:)` throws that are not decoding errors (a ``SchemaError`` from a table schema's validation) pass
/// through unchanged.
struct StrictJSONDecoder {
    /// Whether an object key that the decoded type does not read is refused.
    var refusesUnknownKeys: Bool
    /// Narrower ranges for integer fields, by dotted path (`sequence`, `tables.0.x`), stated in the refusal.
    var integerRanges: [String: ClosedRange<Int64>] = [:]

    /// Parses `bytes` strictly and decodes a `T` from them.
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: StrictJSON.parse(bytes))
    }

    /// Decodes a `T` from an already parsed value.
    func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let context = DecodingContext(integerRanges: integerRanges)
        let result: T
        do {
            result = try JSONValueDecoding.decode(type, from: value, path: [], context: context)
        } catch let error as DecodingError {
            throw StrictJSONError(message: Self.describe(error))
        }
        if refusesUnknownKeys {
            for object in context.objects {
                for key in object.keys where !object.used.contains(key) {
                    let field = (object.path.map(\.stringValue) + [key]).joined(separator: ".")
                    throw StrictJSONError(message: "unknown key '\(Identifier.shown(field))'")
                }
            }
        }
        return result
    }

    /// "field 'a.b': what is wrong", from a decoding error a type's `init(from:)` threw.
    private static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "the document" : "field '\(path.map(\.stringValue).joined(separator: "."))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(field(context.codingPath + [key])) is missing"
        case .valueNotFound(_, let context), .typeMismatch(_, let context), .dataCorrupted(let context):
            return "\(field(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Which keys of one decoded object were read, to find the ones nobody read.
private final class KeyUse {
    let path: [any CodingKey]
    let keys: [String]
    var used = Set<String>()

    init(path: [any CodingKey], keys: [String]) {
        self.path = path
        self.keys = keys
    }
}

private final class DecodingContext {
    var objects: [KeyUse] = []
    let integerRanges: [String: ClosedRange<Int64>]
    init(integerRanges: [String: ClosedRange<Int64>]) { self.integerRanges = integerRanges }
}

/// A position in an array, as a coding key.
private struct IndexKey: CodingKey {
    var stringValue: String { String(intValue!) }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private enum JSONValueDecoding {
    static func decode<T: Decodable>(
        _ type: T.Type, from value: JSONValue, path: [any CodingKey], context: DecodingContext
    ) throws -> T {
        if T.self == String.self {
            guard case .string(let text) = value else { throw mismatch(type, "a string", value, path) }
            return text as! T
        }
        if T.self == Bool.self {
            guard case .bool(let flag) = value else { throw mismatch(type, "a boolean", value, path) }
            return flag as! T
        }
        if T.self == Double.self || T.self == Float.self {
            guard case .number(let text) = value, let number = Double(text) else {
                throw mismatch(type, "a number", value, path)
            }
            return (T.self == Float.self ? Float(number) as Any : number as Any) as! T
        }
        if let integerType = T.self as? any FixedWidthInteger.Type {
            let field = path.map(\.stringValue).joined(separator: ".")
            return try integer(integerType, from: value, path: path, range: context.integerRanges[field]) as! T
        }
        return try T(from: ValueDecoder(value: value, codingPath: path, context: context))
    }

    /// An integer literal that fits `I` (and `range`, if given): `-?(0|[1-9][0-9]*)`, but not `-0`.
    static func integer<I: FixedWidthInteger>(
        _ type: I.Type, from value: JSONValue, path: [any CodingKey], range narrower: ClosedRange<Int64>?
    ) throws -> I {
        let range =
            narrower.map { "an integer from \($0.lowerBound) to \($0.upperBound)" }
            ?? "an integer from \(I.min) to \(I.max)"
        guard case .number(let text) = value else { throw mismatch(type, range, value, path) }
        let isIntegerLiteral = !text.contains { $0 == "." || $0 == "e" || $0 == "E" } && text != "-0"
        let inNarrowerRange = narrower.map { range in Int64(text).map(range.contains) ?? false } ?? true
        guard isIntegerLiteral, inNarrowerRange, let number = I(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: path, debugDescription: "must be \(range), not \(shown(text))"))
        }
        return number
    }

    static func mismatch(_ type: Any.Type, _ expected: String, _ value: JSONValue, _ path: [any CodingKey])
        -> DecodingError
    {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "must be \(expected), not \(value.kindName)"))
    }

    static func shown(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}

private struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let context: DecodingContext
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw JSONValueDecoding.mismatch([String: Any].self, "an object", value, codingPath)
        }
        let use = KeyUse(path: codingPath, keys: members.map(\.key))
        context.objects.append(use)
        return KeyedDecodingContainer(
            KeyedContainer<Key>(
                members: Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first }),
                order: members.map(\.key), use: use, codingPath: codingPath, context: context))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw JSONValueDecoding.mismatch([Any].self, "an array", value, codingPath)
        }
        return UnkeyedContainer(elements: elements, codingPath: codingPath, context: context)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONValueDecoding.decode(type, from: value, path: codingPath, context: context)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let order: [String]
    let use: KeyUse
    let codingPath: [any CodingKey]
    let context: DecodingContext

    var allKeys: [Key] { order.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool {
        use.used.insert(key.stringValue)
        return members[key.stringValue] != nil
    }

    private func member(_ key: Key) throws -> JSONValue {
        use.used.insert(key.stringValue)
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try member(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try JSONValueDecoding.decode(type, from: try member(key), path: codingPath + [key], context: context)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key], context: context)
            .container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key], context: context).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: .object(order.map { ($0, members[$0]!) }), codingPath: codingPath, context: context)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: try member(key), codingPath: codingPath + [key], context: context)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    let context: DecodingContext
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [any CodingKey], context: DecodingContext) {
        self.elements = elements
        self.codingPath = codingPath
        self.context = context
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next() throws -> (JSONValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: codingPath, debugDescription: "the array has no more elements"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try JSONValueDecoding.decode(type, from: value, path: path, context: context)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path, context: context).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path, context: context).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next()
        return ValueDecoder(value: value, codingPath: path, context: context)
    }
}
