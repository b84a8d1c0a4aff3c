import FieldSyncCore

/// Decodes the lines written by ``CopyTextEncoder`` back into changes.
struct CopyTextDecoder {
    let schema: TableSchema
    /// How error messages name the batch (bundle file and entry).
    let source: String
    private let types: [ColumnType]
    static let changeColumnCount = 6

    init(schema: TableSchema, source: String) {
        self.schema = schema
        self.source = source
        types = schema.columns.map(\.type)
    }

    /// Calls `body` with each change of `bytes`, a whole batch entry.
    ///
    /// - Returns: the number of rows decoded.
    /// - Throws: ``BundleError`` with `.malformedBatch` naming the line and column.
    @discardableResult
    func forEach(in bytes: [UInt8], _ body: (Change) throws -> Void) throws -> Int {
        var rows = 0
        try bytes.withUnsafeBufferPointer { (buffer) throws in
            var lineStart = 0
            var fields: [Range<Int>] = []
            fields.reserveCapacity(types.count + Self.changeColumnCount)
            while lineStart < buffer.count {
                fields.removeAll(keepingCapacity: true)
                var fieldStart = lineStart
                var index = lineStart
                while index < buffer.count {
                    let byte = buffer[index]
                    if byte == CopyTextEncoder.tab {
                        fields.append(fieldStart..<index)
                        fieldStart = index + 1
                    } else if byte == CopyTextEncoder.newline {
                        break
                    }
                    index += 1
                }
                guard index < buffer.count else {
                    throw malformed(line: rows + 1, "the last line has no newline (the batch is cut short)")
                }
                fields.append(fieldStart..<index)
                rows += 1
                try body(decodeLine(buffer, fields: fields, line: rows))
                lineStart = index + 1
            }
        }
        return rows
    }

    private func decodeLine(_ buffer: UnsafeBufferPointer<UInt8>, fields: [Range<Int>], line: Int) throws
        -> Change
    {
        guard fields.count == types.count + Self.changeColumnCount else {
            throw malformed(line: line, "has \(fields.count) fields, expected \(types.count + Self.changeColumnCount)")
        }
        func raw(_ index: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: buffer[fields[index]]) }
        let operation: Change.Operation
        switch Array(raw(0)) {
        case [UInt8(ascii: "I")]: operation = .insert
        case [UInt8(ascii: "U")]: operation = .update
        case [UInt8(ascii: "D")]: operation = .delete
        default: throw malformed(line: line, "has an unknown operation")
        }
        let version: Int64?
        if Self.isNull(raw(1)) {
            version = nil
        } else {
            guard let parsed = Self.parseInteger(raw(1)) else { throw malformed(line: line, "has an invalid version") }
            version = parsed
        }
        guard let origin = Self.unescape(raw(2)), Identifier.isValidNodeID(origin) else {
            throw malformed(line: line, "has an invalid origin")
        }
        guard let originSequence = Self.parseInteger(raw(3)) else {
            throw malformed(line: line, "has an invalid origin sequence")
        }
        guard let baseVersion = Self.parseInteger(raw(4)) else { throw malformed(line: line, "has an invalid base version") }
        var changed: ColumnSet?
        if !Self.isNull(raw(5)) {
            guard let set = Self.parseColumnSet(raw(5)), set.indexes.allSatisfy({ $0 < types.count }) else {
                throw malformed(line: line, "has an invalid changed-columns set")
            }
            changed = set
        }
        var values: [Value] = []
        values.reserveCapacity(types.count)
        for (column, type) in types.enumerated() {
            guard let value = Self.decodeValue(raw(column + Self.changeColumnCount), as: type) else {
                throw malformed(line: line, "column '\(schema.columns[column].name)' is not a valid \(type) value")
            }
            values.append(value)
        }
        return Change(
            operation: operation, origin: origin, originSequence: originSequence, baseVersion: baseVersion,
            version: version, changedColumns: changed, values: values)
    }

    private func malformed(line: Int, _ what: String) -> BundleError {
        BundleError(.malformedBatch, "table '\(schema.name)', batch \(source), line \(line) \(what)")
    }

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

    /// Strict decimal Int64: optional `-`, digits, no overflow.
    static func parseInteger(_ raw: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !raw.isEmpty else { return nil }
        var index = 0
        let negative = raw[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < raw.count else { return nil }
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
            let allowed = raw.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 45 || $0 == 46 || $0 == 101 || $0 == 69 }
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
        var bytes = [UInt8]()
        bytes.reserveCapacity((raw.count - 3) / 2)
        var index = 3
        while index < raw.count {
            guard let high = Hex.value(raw[index]), let low = Hex.value(raw[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func parseColumnSet(_ raw: UnsafeBufferPointer<UInt8>) -> ColumnSet? {
        guard raw.count >= 2, raw.count % 2 == 0 else { return nil }
        var set = ColumnSet()
        var byteIndex = 0
        var index = 0
        while index < raw.count {
            guard let high = Hex.value(raw[index]), let low = Hex.value(raw[index + 1]) else { return nil }
            let byte = high << 4 | low
            for bit in 0..<8 where byte & (1 << bit) != 0 { set.insert(byteIndex * 8 + bit) }
            byteIndex += 1
            index += 2
        }
        return set
    }

    /// Undoes COPY escapes; `nil` for an invalid escape or invalid UTF-8.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
        guard raw.contains(CopyTextEncoder.backslash) else {
            return String(validating: raw, as: UTF8.self)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            guard byte == CopyTextEncoder.backslash else {
                bytes.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            let next = raw[index + 1]
            index += 2
            switch next {
            case CopyTextEncoder.backslash: bytes.append(CopyTextEncoder.backslash)
            case UInt8(ascii: "t"): bytes.append(CopyTextEncoder.tab)
            case UInt8(ascii: "n"): bytes.append(CopyTextEncoder.newline)
            case UInt8(ascii: "r"): bytes.append(13)
            case UInt8(ascii: "b"): bytes.append(8)
            case UInt8(ascii: "f"): bytes.append(12)
            case UInt8(ascii: "v"): bytes.append(11)
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
                bytes.append(UInt8(value))
            default:
                return nil
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
