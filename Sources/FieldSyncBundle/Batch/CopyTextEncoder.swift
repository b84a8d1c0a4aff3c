import FieldSyncCore

/// Encodes changes as lines of PostgreSQL `COPY` text format, appended to a byte buffer.
///
/// Each line holds seven change columns (`op`, `version`, `origin`, `origin_seq`, `base_version`, `changed`,
/// `changed_at`) followed by the table's columns in schema order: tab-separated, `\N` for NULL, backslash escapes
/// for backslash, tab, newline, carriage return and NUL. See `docs/bundle-format.md`.
struct CopyTextEncoder {
    let schema: TableSchema
    private let types: [ColumnType]

    init(schema: TableSchema) {
        self.schema = schema
        types = schema.columns.map(\.type)
    }

    /// Appends one change as one line.
    ///
    /// - Throws: ``BundleError`` with `.invalidArgument` when a value's kind cannot be carried by its column's type;
    ///   the message names the table, column and origin sequence, never the value.
    func append(_ change: Change, to out: inout [UInt8]) throws {
        let start = out.count
        do {
            try appendLine(change, to: &out)
        } catch {
            // Never leave half a line behind: the caller may skip this change and go on.
            out.removeSubrange(start...)
            throw error
        }
    }

    private func appendLine(_ change: Change, to out: inout [UInt8]) throws {
        guard change.values.count == types.count else {
            throw BundleError(
                .invalidArgument,
                "table '\(schema.name)': change \(change.origin)#\(change.originSequence) has \(change.values.count) "
                    + "values for \(types.count) columns")
        }
        if let changed = change.changedColumns, let last = changed.indexes.last, last >= types.count {
            throw BundleError(
                .invalidArgument,
                "table '\(schema.name)': change \(change.origin)#\(change.originSequence) marks column \(last) as "
                    + "changed, but the table has \(types.count) columns")
        }
        guard Identifier.isValidNodeID(change.origin) else {
            throw BundleError(
                .invalidArgument, "table '\(schema.name)': change origin '\(change.origin)' is not a valid node id")
        }
        out.append(change.operation.rawValue.utf8.first!)
        out.append(Self.tab)
        if let version = change.version { Self.appendInteger(version, to: &out) } else { Self.appendNull(to: &out) }
        out.append(Self.tab)
        Self.appendEscaped(change.origin, to: &out)
        out.append(Self.tab)
        Self.appendInteger(change.originSequence, to: &out)
        out.append(Self.tab)
        Self.appendInteger(change.baseVersion, to: &out)
        out.append(Self.tab)
        if let changed = change.changedColumns {
            Self.appendColumnSet(changed, to: &out)
        } else {
            Self.appendNull(to: &out)
        }
        out.append(Self.tab)
        if let changedAt = change.changedAt {
            Self.appendEscaped(changedAt, to: &out)
        } else {
            Self.appendNull(to: &out)
        }
        for (index, value) in change.values.enumerated() {
            out.append(Self.tab)
            guard Self.append(value, as: types[index], to: &out) else {
                throw BundleError(
                    .invalidArgument,
                    "table '\(schema.name)', column '\(schema.columns[index].name)': change "
                        + "\(change.origin)#\(change.originSequence) holds a \(value.kindName) value, which a "
                        + "\(types[index]) column cannot carry exactly")
            }
        }
        out.append(Self.newline)
    }

    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let backslash = UInt8(ascii: "\\")

    static func appendNull(to out: inout [UInt8]) {
        out.append(backslash)
        out.append(UInt8(ascii: "N"))
    }

    /// Appends `value` in the form its column type requires; false if the kind does not fit the type.
    static func append(_ value: Value, as type: ColumnType, to out: inout [UInt8]) -> Bool {
        switch (value, type) {
        case (.null, _):
            appendNull(to: &out)
        case (.integer(let number), .integer), (.integer(let number), .real):
            appendInteger(number, to: &out)
        case (.integer(let number), .boolean):
            guard number == 0 || number == 1 else { return false }
            out.append(UInt8(ascii: number == 1 ? "t" : "f"))
        case (.text(let text), .boolean):
            switch text.lowercased() {
            case "t", "true", "1": out.append(UInt8(ascii: "t"))
            case "f", "false", "0": out.append(UInt8(ascii: "f"))
            default: return false
            }
        case (.real(let number), .real):
            appendReal(number, to: &out)
        case (.blob(let bytes), .blob):
            appendBlob(bytes, to: &out)
        case (.text(let text), _) where type.isTextual:
            appendEscaped(text, to: &out)
        case (.integer(let number), _) where type.isTextual:
            appendInteger(number, to: &out)
        case (.real(let number), _) where type == .numeric || type == .text:
            appendReal(number, to: &out)
        case (.integer(let number), .any):
            out.append(contentsOf: [UInt8(ascii: "i"), UInt8(ascii: ":")])
            appendInteger(number, to: &out)
        case (.real(let number), .any):
            out.append(contentsOf: [UInt8(ascii: "r"), UInt8(ascii: ":")])
            appendReal(number, to: &out)
        case (.text(let text), .any):
            out.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: ":")])
            appendEscaped(text, to: &out)
        case (.blob(let bytes), .any):
            out.append(contentsOf: [UInt8(ascii: "b"), UInt8(ascii: ":")])
            appendBlob(bytes, to: &out)
        default:
            return false
        }
        return true
    }

    static func appendInteger(_ number: Int64, to out: inout [UInt8]) {
        if number == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var magnitude = number.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[19 - count] = UInt8(truncatingIfNeeded: magnitude % 10) + 48
                magnitude /= 10
                count += 1
            }
            if number < 0 { out.append(UInt8(ascii: "-")) }
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// Shortest text that reads back to the same double; `Infinity`, `-Infinity` and `NaN` as PostgreSQL spells them.
    static func appendReal(_ number: Double, to out: inout [UInt8]) {
        if number.isNaN {
            out.append(contentsOf: "NaN".utf8)
        } else if number.isInfinite {
            out.append(contentsOf: (number < 0 ? "-Infinity" : "Infinity").utf8)
        } else {
            out.append(contentsOf: number.description.utf8)
        }
    }

    /// `\\x` followed by lowercase hex: PostgreSQL's bytea hex input, with its backslash escaped for COPY.
    static func appendBlob(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(backslash)
        out.append(backslash)
        out.append(UInt8(ascii: "x"))
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { hex in
            for byte in bytes {
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
    }

    static func appendColumnSet(_ set: ColumnSet, to out: inout [UInt8]) {
        var bytes: [UInt8] = []
        for word in set.words {
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        while bytes.count > 1 && bytes.last == 0 { bytes.removeLast() }
        if bytes.isEmpty { bytes = [0] }
        appendBlobHexOnly(bytes, to: &out)
    }

    private static func appendBlobHexOnly(_ bytes: [UInt8], to out: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { hex in
            for byte in bytes {
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
    }

    /// Appends text with COPY escapes for backslash, tab, newline, carriage return and NUL.
    ///
    /// Text is mostly runs that need no escape: those are found eight bytes at a time and copied whole.
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            let raw = UnsafeRawPointer(base)
            var start = 0
            var index = 0
            while index < bytes.count {
                if index + 8 <= bytes.count, !mayNeedEscape(raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                    index += 8
                    continue
                }
                let letter: UInt8
                switch base[index] {
                case backslash: letter = backslash
                case tab: letter = UInt8(ascii: "t")
                case newline: letter = UInt8(ascii: "n")
                case 13: letter = UInt8(ascii: "r")
                case 0: letter = UInt8(ascii: "0")
                default:
                    index += 1
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
                out.append(backslash)
                out.append(letter)
                // NUL is written as the octal escape \000.
                if letter == UInt8(ascii: "0") {
                    out.append(UInt8(ascii: "0"))
                    out.append(UInt8(ascii: "0"))
                }
                index += 1
                start = index
            }
            out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: bytes.count - start))
        }
    }

    /// Whether any of the eight bytes in `word` is a control character or a backslash (the bytes that may need
    /// an escape). Bitwise tests for "a byte below 0x20" and "a byte equal to 0x5c" across the whole word.
    @inline(__always)
    private static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let belowSpace = (word &- 0x20 &* ones) & ~word & highBits
        let zeroWhereBackslash = word ^ (UInt64(backslash) &* ones)
        let isBackslash = (zeroWhereBackslash &- ones) & ~zeroWhereBackslash & highBits
        return belowSpace | isBackslash != 0
    }
}

extension Value {
    /// The kind's name for error messages, never the content.
    var kindName: String {
        switch self {
        case .null: "NULL"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }
}
