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
            let digits = Array("0123456789abcdef".utf8)
            var hex = [UInt8]()
            hex.reserveCapacity(bytes.count * 2)
            for byte in bytes {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0x0f)])
            }
            return "{\"hex\":\"\(String(decoding: hex, as: UTF8.self))\"}"
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
