import FieldSyncCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Decodes the lines written by ``CopyTextEncoder`` back into changes.
///
/// Decoding is about half the work of reading a bundle, so the hot path avoids per-line work that does not produce a
/// value: lines and fields are found with `memchr`, field boundaries live in one buffer reused for every line, and
/// text is unescaped run by run into one reused scratch buffer. What is accepted and refused, and every error
/// message, are those of the straightforward byte-by-byte reading the format describes.
struct CopyTextDecoder {
    let schema: TableSchema
    /// How error messages name the batch (bundle file and entry).
    let source: String
    private let types: [ColumnType]
    /// Which columns hold text, decided once instead of per value.
    private let isTextual: [Bool]
    /// How many change columns precede the table's: 7, or 6 in bundles written before `changed_at` travelled.
    let changeColumnCount: Int

    /// - Parameter changeColumnCount: the length of the manifest's `change_columns`, 7 or 6.
    init(schema: TableSchema, source: String, changeColumnCount: Int = 7) {
        self.schema = schema
        self.source = source
        self.changeColumnCount = changeColumnCount
        types = schema.columns.map(\.type)
        isTextual = types.map(Self.decodesAsText)
    }

    /// Whether ``decodeValue(_:as:)`` reads `type` as plain escaped text.
    private static func decodesAsText(_ type: ColumnType) -> Bool {
        switch type {
        case .integer, .real, .boolean, .blob, .any: false
        default: true
        }
    }

    /// Calls `body` with each change of `buffer`, a whole batch entry.
    ///
    /// - Returns: the number of rows decoded.
    /// - Throws: ``BundleError`` with `.malformedBatch` naming the line and column.
    @discardableResult
    func forEach(in buffer: UnsafeBufferPointer<UInt8>, _ body: (Change) throws -> Void) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        // CR is never a line end and always escaped inside values (`\r`): a raw one is refused, since some readers
        // would take CR LF for one line end and others would keep the CR in the last value.
        if let carriageReturn = Self.find(Self.carriageReturn, in: base, from: 0, to: buffer.count) {
            let line = Self.count(CopyTextEncoder.newline, in: base, from: 0, to: carriageReturn) + 1
            throw malformed(line: line, "holds a raw carriage return (CR is written as \\r)")
        }
        let fieldCount = types.count + changeColumnCount
        // Field i of the current line is base[bounds[2 * i] ..< bounds[2 * i + 1]]; one allocation per batch.
        let bounds = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * fieldCount)
        defer { bounds.deallocate() }
        var state = LineState()
        var rows = 0
        var lineStart = 0
        while lineStart < buffer.count {
            guard let newline = Self.find(CopyTextEncoder.newline, in: base, from: lineStart, to: buffer.count) else {
                throw malformed(line: rows + 1, "the last line has no newline (the batch is cut short)")
            }
            rows += 1
            // A line must hold exactly fieldCount - 1 tabs; find them, then make sure the last field holds none.
            var fieldStart = lineStart
            var found = 0
            while found < fieldCount - 1,
                let tab = Self.find(CopyTextEncoder.tab, in: base, from: fieldStart, to: newline)
            {
                bounds[2 * found] = fieldStart
                bounds[2 * found + 1] = tab
                found += 1
                fieldStart = tab + 1
            }
            let extraTab = Self.find(CopyTextEncoder.tab, in: base, from: fieldStart, to: newline)
            if found < fieldCount - 1 || extraTab != nil {
                let tabs = Self.count(CopyTextEncoder.tab, in: base, from: lineStart, to: newline)
                throw malformed(line: rows, "has \(tabs + 1) fields, expected \(fieldCount)")
            }
            bounds[2 * found] = fieldStart
            bounds[2 * found + 1] = newline
            let fields = Fields(base: base, bounds: UnsafeBufferPointer(bounds))
            try body(decodeLine(fields, line: rows, state: &state))
            lineStart = newline + 1
        }
        return rows
    }

    /// The fields of one line, by index.
    private struct Fields {
        let base: UnsafePointer<UInt8>
        let bounds: UnsafeBufferPointer<Int>

        subscript(index: Int) -> UnsafeBufferPointer<UInt8> {
            let start = bounds[2 * index]
            return UnsafeBufferPointer(start: base + start, count: bounds[2 * index + 1] - start)
        }
    }

    /// What decoding one line may reuse from the previous one.
    private struct LineState {
        /// Unescaped bytes of the text value being decoded.
        var scratch: [UInt8] = []
        /// The last origin field as it was written, and the valid node id it decoded to. Origins repeat on almost
        /// every line, so checking the bytes against the last one saves decoding and validating them again.
        var originField: [UInt8] = []
        var origin = ""
    }

    private func decodeLine(_ fields: Fields, line: Int, state: inout LineState) throws -> Change {
        let operation: Change.Operation
        let op = fields[0]
        switch op.count == 1 ? op[0] : 0 {
        case UInt8(ascii: "I"): operation = .insert
        case UInt8(ascii: "U"): operation = .update
        case UInt8(ascii: "D"): operation = .delete
        default: throw malformed(line: line, "has an unknown operation")
        }
        let version: Int64?
        if Self.isNull(fields[1]) {
            version = nil
        } else {
            guard let parsed = Self.parseInteger(fields[1]) else {
                throw malformed(line: line, "has an invalid version (a 64-bit decimal integer, or \\N)")
            }
            version = parsed
        }
        let origin = try decodeOrigin(fields[2], line: line, state: &state)
        guard let originSequence = Self.parseInteger(fields[3]) else {
            throw malformed(line: line, "has an invalid origin sequence (a 64-bit decimal integer)")
        }
        guard let baseVersion = Self.parseInteger(fields[4]) else {
            throw malformed(line: line, "has an invalid base version (a 64-bit decimal integer)")
        }
        var changed: ColumnSet?
        if !Self.isNull(fields[5]) {
            guard let set = Self.parseColumnSet(fields[5], columnCount: types.count) else {
                throw malformed(line: line, "has an invalid changed-columns set")
            }
            changed = set
        }
        var changedAt: String?
        if changeColumnCount > 6, !Self.isNull(fields[6]) {
            guard let text = Self.unescape(fields[6], scratch: &state.scratch) else {
                throw malformed(line: line, "has an invalid changed_at")
            }
            changedAt = text
        }
        var values: [Value] = []
        values.reserveCapacity(types.count)
        for column in 0..<types.count {
            let raw = fields[column + changeColumnCount]
            let value: Value?
            if Self.isNull(raw) {
                value = .null
            } else if isTextual[column] {
                value = Self.unescape(raw, scratch: &state.scratch).map(Value.text)
            } else {
                value = Self.decodeValue(raw, as: types[column])
            }
            guard let value else {
                throw malformed(
                    line: line, "column '\(schema.columns[column].name)' is not a valid \(types[column]) value")
            }
            values.append(value)
        }
        return Change(
            operation: operation, origin: origin, originSequence: originSequence, baseVersion: baseVersion,
            version: version, changedColumns: changed, values: values, changedAt: changedAt)
    }

    private func decodeOrigin(_ raw: UnsafeBufferPointer<UInt8>, line: Int, state: inout LineState) throws -> String {
        if raw.count == state.originField.count, !raw.isEmpty,
            memcmp(raw.baseAddress!, state.originField, raw.count) == 0
        {
            return state.origin
        }
        guard let origin = Self.unescape(raw, scratch: &state.scratch), Identifier.isValidNodeID(origin) else {
            throw malformed(line: line, "has an invalid origin")
        }
        state.originField = Array(raw)
        state.origin = origin
        return origin
    }

    private func malformed(line: Int, _ what: String) -> BundleError {
        BundleError(.malformedBatch, "table '\(schema.name)', batch \(source), line \(line) \(what)")
    }

    // MARK: - Fields

    static func isNull(_ raw: UnsafeBufferPointer<UInt8>) -> Bool {
        raw.count == 2 && raw[0] == CopyTextEncoder.backslash && raw[1] == UInt8(ascii: "N")
    }

    /// Reads one field as a value of `type`; `nil` if it is not valid for that type.
    static func decodeValue(_ raw: UnsafeBufferPointer<UInt8>, as type: ColumnType) -> Value? {
        if isNull(raw) { return .null }
        switch type {
        case .integer:
            return parseInteger(raw).map(Value.integer)
        case .real:
            return parseReal(raw).map(Value.real)
        case .boolean:
            guard raw.count == 1 else { return nil }
            switch raw[0] {
            case UInt8(ascii: "t"): return .integer(1)
            case UInt8(ascii: "f"): return .integer(0)
            default: return nil
            }
        case .blob:
            return parseBlob(raw).map(Value.blob)
        case .any:
            guard raw.count >= 2, raw[1] == UInt8(ascii: ":") else { return nil }
            let rest = UnsafeBufferPointer(rebasing: raw[2...])
            switch raw[0] {
            case UInt8(ascii: "i"): return parseInteger(rest).map(Value.integer)
            case UInt8(ascii: "r"): return parseReal(rest).map(Value.real)
            case UInt8(ascii: "t"): return unescape(rest).map(Value.text)
            case UInt8(ascii: "b"): return parseBlob(rest).map(Value.blob)
            default: return nil
            }
        default:
            return unescape(raw).map(Value.text)
        }
    }

    /// Strict decimal Int64 as the writer writes it: `0`, or an optional `-` and digits without a leading zero;
    /// no `+`, no `-0`, no overflow.
    static func parseInteger(_ raw: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !raw.isEmpty else { return nil }
        var index = 0
        let negative = raw[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < raw.count else { return nil }
        if raw[index] == UInt8(ascii: "0") {
            guard !negative, raw.count == 1 else { return nil }
            return 0
        }
        var magnitude: UInt64 = 0
        while index < raw.count {
            let digit = raw[index] &- 48
            guard digit < 10 else { return nil }
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func parseReal(_ raw: UnsafeBufferPointer<UInt8>) -> Double? {
        let text = String(decoding: raw, as: UTF8.self)
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            // Plain decimal notation only: no hex floats, no "inf" or "nan" spellings.
            let allowed = raw.allSatisfy {
                ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 45 || $0 == 46 || $0 == 101 || $0 == 69
            }
            guard allowed, let first = raw.first, first == 45 || first == 46 || (first >= 48 && first <= 57) else {
                return nil
            }
            return Double(text)
        }
    }

    /// `\\x` followed by an even number of hex digits.
    static func parseBlob(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard raw.count >= 3, raw[0] == CopyTextEncoder.backslash, raw[1] == CopyTextEncoder.backslash,
            raw[2] == UInt8(ascii: "x"), (raw.count - 3) % 2 == 0
        else { return nil }
        let count = (raw.count - 3) / 2
        var valid = true
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { out, initialised in
            var index = 3
            while initialised < count {
                guard let high = Hex.value(raw[index]), let low = Hex.value(raw[index + 1]) else {
                    valid = false
                    return
                }
                out[initialised] = high << 4 | low
                initialised += 1
                index += 2
            }
        }
        return valid ? bytes : nil
    }

    /// A hex bit set naming only columns below `columnCount`; `nil` otherwise. A set naming a column past the
    /// end is refused as soon as its byte is read, so a huge field costs no memory.
    static func parseColumnSet(_ raw: UnsafeBufferPointer<UInt8>, columnCount: Int) -> ColumnSet? {
        guard raw.count >= 2, raw.count % 2 == 0 else { return nil }
        var set = ColumnSet()
        var byteIndex = 0
        var index = 0
        while index < raw.count {
            guard let high = Hex.value(raw[index]), let low = Hex.value(raw[index + 1]) else { return nil }
            let byte = high << 4 | low
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                guard byteIndex * 8 + bit < columnCount else { return nil }
                set.insert(byteIndex * 8 + bit)
            }
            byteIndex += 1
            index += 2
        }
        return set
    }

    // MARK: - Text

    /// Undoes COPY escapes; `nil` for an invalid escape or invalid UTF-8.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
        var scratch: [UInt8] = []
        return unescape(raw, scratch: &scratch)
    }

    /// Undoes COPY escapes, using `scratch` for the unescaped bytes; `nil` for an invalid escape or invalid UTF-8.
    ///
    /// Runs without a backslash are copied whole; most values have none and become a string straight from `raw`.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>, scratch: inout [UInt8]) -> String? {
        guard let base = raw.baseAddress, var escape = find(CopyTextEncoder.backslash, in: base, from: 0, to: raw.count)
        else {
            return makeString(raw)
        }
        scratch.removeAll(keepingCapacity: true)
        var index = 0
        while true {
            scratch.append(contentsOf: UnsafeBufferPointer(start: base + index, count: escape - index))
            guard escape + 1 < raw.count else { return nil }
            let next = raw[escape + 1]
            index = escape + 2
            switch next {
            case CopyTextEncoder.backslash: scratch.append(CopyTextEncoder.backslash)
            case UInt8(ascii: "t"): scratch.append(CopyTextEncoder.tab)
            case UInt8(ascii: "n"): scratch.append(CopyTextEncoder.newline)
            case UInt8(ascii: "r"): scratch.append(13)
            case UInt8(ascii: "b"): scratch.append(8)
            case UInt8(ascii: "f"): scratch.append(12)
            case UInt8(ascii: "v"): scratch.append(11)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                // Up to three octal digits, as COPY reads them.
                var value = Int(next - 48)
                var digits = 1
                while digits < 3, index < raw.count, raw[index] >= 48, raw[index] <= 55 {
                    value = value * 8 + Int(raw[index] - 48)
                    index += 1
                    digits += 1
                }
                guard value < 256 else { return nil }
                scratch.append(UInt8(value))
            default:
                return nil
            }
            guard let found = find(CopyTextEncoder.backslash, in: base, from: index, to: raw.count) else { break }
            escape = found
        }
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + index, count: raw.count - index))
        return scratch.withUnsafeBufferPointer { makeString($0) }
    }

    /// The string of valid UTF-8 `bytes`; `nil` if they are not valid.
    ///
    /// `String(decoding:)` is the faster constructor but repairs invalid input instead of refusing it, so it is used
    /// only for ASCII, which it cannot repair.
    @inline(__always)
    static func makeString(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        isASCII(bytes) ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    /// Whether every byte is below 0x80, tested eight bytes at a time; text of eight bytes or more ends by reading
    /// its last eight bytes again instead of finishing byte by byte.
    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        let count = bytes.count
        guard count >= 8 else {
            var bits: UInt8 = 0
            for byte in bytes { bits |= byte }
            return bits < 0x80
        }
        var bits: UInt64 = raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        var index = 0
        while index + 32 <= count {
            bits |=
                raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self)
                | raw.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self)
            index += 32
        }
        while index + 8 <= count {
            bits |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    // MARK: - Scanning

    static let carriageReturn: UInt8 = 13

    /// Position of the first `byte` in `base[start ..< end]`, or `nil`.
    @inline(__always)
    static func find(_ byte: UInt8, in base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int? {
        guard start < end, let found = memchr(base + start, Int32(byte), end - start) else { return nil }
        return UnsafeRawPointer(found) - UnsafeRawPointer(base)
    }

    /// How many newlines `bytes` holds: its number of rows, if it is a well-formed batch.
    static func lineCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        return count(CopyTextEncoder.newline, in: base, from: 0, to: bytes.count)
    }

    /// How many times `byte` occurs in `base[start ..< end]`.
    static func count(_ byte: UInt8, in base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        var count = 0
        var position = start
        while let found = find(byte, in: base, from: position, to: end) {
            count += 1
            position = found + 1
        }
        return count
    }
}
