import Foundation

extension ColumnType {
    /// The value as a hub keeps it in a column of this type, or why no hub can keep it.
    ///
    /// Both hub stores apply the same rule at ingest, so a value is set aside with its reason on the embedded
    /// SQLite hub exactly where PostgreSQL's input functions would refuse it, instead of being stored in a column
    /// that cannot carry it (where it would stop every later return bundle). Accepted, besides values of the
    /// column's own kind:
    ///
    /// - `integer`: text that is a whole number within 64 bits (kept as an integer);
    /// - `real`: an integer, or text that is a decimal number, `NaN` or `Infinity` (kept as a real);
    /// - `numeric`: an integer, a real, or text that is a decimal number (`-12.50`, `1e-3`), `NaN` or `Infinity`;
    /// - `boolean`: 0 or 1, or text `t`/`true`/`yes`/`on`/`1` and `f`/`false`/`no`/`off`/`0` (kept as 1 or 0);
    /// - `date`: text `YYYY-MM-DD` naming a real day; `timestamp` and `timestamptz`: a date, optionally followed by
    ///   `T` or a space and `HH:MM[:SS[.fraction]]`, and a zone (`Z`, `+HH`, `+HH:MM`, `Europe/Paris`), or `infinity`;
    /// - `uuid`: text of 32 hex digits, with the usual hyphens or none (kept with hyphens), optionally in braces;
    /// - `json`: text that is a JSON document, or a number;
    /// - `text`: text, an integer or a real.
    ///
    /// Never accepted: text holding a NUL character (which PostgreSQL cannot store), bytes in any column but a
    /// `blob` or untyped one, and anything but bytes in a `blob` column. Untyped (`any`) columns, on the embedded
    /// hub only, take every other value as it is.
    ///
    /// - Returns: the value to store, or a reason naming the type and the kind of value (never the value itself).
    public func conformed(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .null: return .success(.null)
        case .text(let text) where text.utf8.contains(0):
            return .failure(ValueRefusal("text holding a NUL character, which no hub column can store"))
        default: break
        }
        switch self {
        case .any: return .success(value)
        case .integer: return conformedInteger(value)
        case .real: return conformedReal(value)
        case .numeric: return conformedNumeric(value)
        case .boolean: return conformedBoolean(value)
        case .date, .timestamp, .timestamptz: return conformedTime(value)
        case .uuid: return conformedUUID(value)
        case .json: return conformedJSON(value)
        case .blob:
            if case .blob = value { return .success(value) }
            return refuse(value, "which a blob column cannot hold (it takes bytes only)")
        default:
            if case .blob = value { return refuse(value, "which a \(name) column cannot hold") }
            return .success(value)
        }
    }

    private func refuse(_ value: Value, _ why: String) -> Result<Value, ValueRefusal> {
        .failure(ValueRefusal("\(Self.kind(of: value)), \(why)"))
    }

    /// The kind of a value in words, for a reason (never its content).
    static func kind(of value: Value) -> String {
        switch value {
        case .null: "NULL"
        case .integer: "an integer"
        case .real: "a real number"
        case .text: "text"
        case .blob: "bytes"
        }
    }

    private func conformedInteger(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .integer: return .success(value)
        case .text(let text):
            if let number = Int64(text.trimmingASCIISpaces) { return .success(.integer(number)) }
            return refuse(value, "which is not a whole number within 64 bits")
        case .real: return refuse(value, "which an integer column cannot hold (PostgreSQL refuses a fraction)")
        default: return refuse(value, "which an integer column cannot hold")
        }
    }

    private func conformedReal(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .real: return .success(value)
        case .integer(let number): return .success(.real(Double(number)))
        case .text(let text):
            if let number = Self.real(text) { return .success(.real(number)) }
            return refuse(value, "which is not a number")
        default: return refuse(value, "which a real column cannot hold")
        }
    }

    private func conformedNumeric(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .integer, .real: return .success(value)
        case .text(let text):
            let trimmed = text.trimmingASCIISpaces
            if Self.isDecimal(trimmed) || Self.specialNumber(trimmed) != nil { return .success(.text(trimmed)) }
            return refuse(value, "which is not a decimal number")
        default: return refuse(value, "which a numeric column cannot hold")
        }
    }

    private func conformedBoolean(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .integer(let number) where number == 0 || number == 1: return .success(value)
        case .text(let text):
            switch text.trimmingASCIISpaces.lowercased() {
            case "t", "true", "y", "yes", "on", "1": return .success(.integer(1))
            case "f", "false", "n", "no", "off", "0": return .success(.integer(0))
            default: return refuse(value, "which is not true or false")
            }
        default: return refuse(value, "which a boolean column cannot hold (it takes true or false, 1 or 0)")
        }
    }

    private func conformedTime(_ value: Value) -> Result<Value, ValueRefusal> {
        guard case .text(let text) = value else {
            return refuse(value, "which a \(name) column cannot hold (it takes text such as 2024-03-01)")
        }
        let trimmed = text.trimmingASCIISpaces
        let valid = self == .date ? TimeText.isDate(trimmed) : TimeText.isTimestamp(trimmed)
        guard valid else {
            return refuse(
                value,
                self == .date
                    ? "which is not a date written YYYY-MM-DD"
                    : "which is not a timestamp written YYYY-MM-DD HH:MM:SS (with an optional zone)")
        }
        return .success(.text(trimmed))
    }

    private func conformedUUID(_ value: Value) -> Result<Value, ValueRefusal> {
        guard case .text(let text) = value else { return refuse(value, "which a uuid column cannot hold") }
        var body = Substring(text.trimmingASCIISpaces)
        if body.first == "{" && body.last == "}" { body = body.dropFirst().dropLast() }
        let hex = body.filter { $0 != "-" }
        let standard = body.count == 36 && [8, 13, 18, 23].allSatisfy { body.utf8.dropFirst($0).first == 45 }
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit), standard || body.count == 32 else {
            return refuse(value, "which is not a UUID (32 hex digits)")
        }
        if standard { return .success(.text(String(body))) }
        // Hyphens written in, as PostgreSQL prints it: 32 digits alone could read as a number in SQLite.
        let lower = Array(hex.lowercased())
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(lower[$0]) }
        return .success(.text(groups.joined(separator: "-")))
    }

    private func conformedJSON(_ value: Value) -> Result<Value, ValueRefusal> {
        switch value {
        case .integer(let number): return .success(.text(String(number)))
        case .real(let number) where number.isFinite: return .success(.text("\(number)"))
        case .text(let text):
            let valid = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
            return valid ? .success(value) : refuse(value, "which is not a JSON document")
        default: return refuse(value, "which a json column cannot hold")
        }
    }

    /// A real from text as PostgreSQL reads `double precision`: decimal notation, `NaN`, `Infinity`, `inf`.
    static func real(_ text: String) -> Double? {
        let trimmed = text.trimmingASCIISpaces
        if let special = specialNumber(trimmed) { return special }
        guard isDecimal(trimmed), let number = Double(trimmed), number.isFinite else { return nil }
        return number
    }

    /// `NaN` or an infinity, as PostgreSQL spells them (any case).
    static func specialNumber(_ text: String) -> Double? {
        switch text.lowercased() {
        case "nan": .nan
        case "infinity", "+infinity", "inf", "+inf": .infinity
        case "-infinity", "-inf": -.infinity
        default: nil
        }
    }

    /// Whether `text` is a decimal number: an optional sign, digits with an optional point (at least one digit),
    /// and an optional exponent.
    static func isDecimal(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        if let first = bytes.first, first == 43 || first == 45 { bytes = bytes.dropFirst() }
        var digits = 0
        var point = false
        while let byte = bytes.first {
            if byte >= 48 && byte <= 57 {
                digits += 1
            } else if byte == 46 && !point {
                point = true
            } else {
                break
            }
            bytes = bytes.dropFirst()
        }
        guard digits > 0 else { return false }
        if let byte = bytes.first, byte == 101 || byte == 69 {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == 43 || sign == 45 { bytes = bytes.dropFirst() }
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
            return true
        }
        return bytes.isEmpty
    }
}

/// Why a value cannot be kept in a hub column (``ColumnType/conformed(_:)``).
public struct ValueRefusal: Error, Sendable, Equatable {
    /// What is wrong, naming the kind of value but never the value; from ``TableSchema/conformed(_:)``, also the
    /// table, the column and its type.
    public var reason: String
    /// The column, when known.
    public var column: String?
    /// What is wrong with the value alone ("text, which is not a whole number within 64 bits").
    public var detail: String

    public init(_ detail: String, column: String? = nil, reason: String? = nil) {
        self.detail = detail
        self.column = column
        self.reason = reason ?? detail
    }
}

extension TableSchema {
    /// `change` with each value as the hub keeps it (``ColumnType/conformed(_:)``), its values in this schema's
    /// column order; or the reason, naming the column, why the hub cannot keep it. For a delete only the key is
    /// checked: the other values of a tombstone mean nothing.
    public func conformed(_ change: Change) -> Result<Change, ValueRefusal> {
        var result = change
        let keys = Set(primaryKeyIndexes)
        for (index, column) in columns.enumerated() where index < change.values.count {
            if change.operation == .delete && !keys.contains(index) { continue }
            if keys.contains(index), change.values[index] == .null {
                return .failure(
                    ValueRefusal(
                        "NULL", column: column.name,
                        reason: "column '\(column.name)' of table '\(name)' is part of its primary key, and the site "
                            + "sent NULL: a row without a key cannot be found again on any node"))
            }
            switch column.type.conformed(change.values[index]) {
            case .success(let value): result.values[index] = value
            case .failure(let refusal):
                return .failure(
                    ValueRefusal(
                        refusal.detail, column: column.name,
                        reason: "column '\(column.name)' of table '\(name)' is \(column.type.name) at the hub, and "
                            + "the site sent \(refusal.detail)"))
            }
        }
        return .success(result)
    }
}

/// Date and timestamp text as FieldSync carries it: ISO 8601 dates and times.
enum TimeText {
    /// `YYYY-MM-DD` naming a real day (years 1 to 9999), or `infinity` / `-infinity`.
    static func isDate(_ text: String) -> Bool {
        if ["infinity", "-infinity"].contains(text.lowercased()) { return true }
        let bytes = Array(text.utf8)
        return bytes.count == 10 && datePart(bytes[...]) != nil
    }

    /// A date, then optionally `T` or a space and `HH:MM[:SS[.fraction]]`, then optionally a zone (`Z`, `+`/`-` and
    /// `HH`, `HHMM` or `HH:MM`, or a zone's name such as `Europe/Paris`, optionally after a space); or `infinity` /
    /// `-infinity`.
    static func isTimestamp(_ text: String) -> Bool {
        if ["infinity", "-infinity"].contains(text.lowercased()) { return true }
        var rest = Array(text.utf8)[...]
        guard rest.count >= 10, datePart(rest.prefix(10)) != nil else { return false }
        rest = rest.dropFirst(10)
        guard let separator = rest.first else { return true }
        guard separator == 84 || separator == 32 else { return false }
        rest = rest.dropFirst()
        guard let hour = number(&rest, digits: 2), hour <= 24, rest.first == 58 else { return false }
        rest = rest.dropFirst()
        guard let minute = number(&rest, digits: 2), minute <= 59 else { return false }
        if rest.first == 58 {
            rest = rest.dropFirst()
            guard let second = number(&rest, digits: 2), second <= 60 else { return false }
            if rest.first == 46 {
                rest = rest.dropFirst()
                var fraction = 0
                while let byte = rest.first, byte >= 48 && byte <= 57 {
                    fraction += 1
                    rest = rest.dropFirst()
                }
                guard fraction > 0 else { return false }
            }
        }
        if rest.first == 32 { rest = rest.dropFirst() }
        guard let zone = rest.first else { return true }
        if zone == 90 || zone == 122 { return rest.count == 1 }
        if isZoneName(rest) { return true }
        guard zone == 43 || zone == 45 else { return false }
        rest = rest.dropFirst()
        guard let zoneHour = number(&rest, digits: 2), zoneHour <= 15 else { return false }
        if rest.first == 58 { rest = rest.dropFirst() }
        if rest.isEmpty { return true }
        guard let zoneMinute = number(&rest, digits: 2), zoneMinute <= 59 else { return false }
        return rest.isEmpty
    }

    /// A time zone's name as PostgreSQL reads one after a time (`Europe/Paris`, `UTC`, `America/Port-au-Prince`):
    /// a letter, then letters, digits, `/`, `_`, `+` and `-`.
    private static func isZoneName(_ bytes: ArraySlice<UInt8>) -> Bool {
        let isLetter: (UInt8) -> Bool = { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
        guard let first = bytes.first, isLetter(first), bytes.count <= 64 else { return false }
        return bytes.allSatisfy { isLetter($0) || ($0 >= 48 && $0 <= 57) || [47, 95, 43, 45].contains($0) }
    }

    /// The day of `YYYY-MM-DD`, if it is one.
    private static func datePart(_ bytes: ArraySlice<UInt8>) -> (Int, Int, Int)? {
        var rest = bytes
        guard let year = number(&rest, digits: 4), year >= 1, rest.first == 45 else { return nil }
        rest = rest.dropFirst()
        guard let month = number(&rest, digits: 2), (1...12).contains(month), rest.first == 45 else { return nil }
        rest = rest.dropFirst()
        guard let day = number(&rest, digits: 2), rest.isEmpty else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day) ? (year, month, day) : nil
    }

    /// Reads exactly `digits` decimal digits from the front of `bytes`.
    private static func number(_ bytes: inout ArraySlice<UInt8>, digits: Int) -> Int? {
        guard bytes.count >= digits else { return nil }
        var value = 0
        for byte in bytes.prefix(digits) {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        bytes = bytes.dropFirst(digits)
        return value
    }
}

extension String {
    /// Without leading and trailing ASCII spaces, tabs and line breaks (as PostgreSQL's input functions skip them).
    var trimmingASCIISpaces: String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 32 || ($0 >= 9 && $0 <= 13) }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }),
            let end = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: bytes[start...end], as: UTF8.self)
    }
}
