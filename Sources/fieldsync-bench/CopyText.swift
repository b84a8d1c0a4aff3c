import FieldSyncCore

/// The benchmark's own copy of the batch line format (`copy-text-1`), for the reference pipeline.
///
/// The library's encoder is internal, so the limit measurement needs the same bytes made here: seven change columns
/// (`op`, `version`, `origin`, `origin_seq`, `base_version`, `changed`, `changed_at`) then the table's columns,
/// tab-separated,
/// `\N` for NULL, COPY escapes for backslash, tab, newline, carriage return and NUL. Only the value kinds the
/// `beneficiaries` table uses are supported. The run checks that the byte total equals the bundle's batch index.
enum CopyText {
    private static let tab = UInt8(ascii: "\t")
    private static let backslash = UInt8(ascii: "\\")

    static func append(_ change: Change, to out: inout [UInt8]) {
        precondition(change.changedColumns == nil, "the benchmark writes whole-row changes only")
        out.append(contentsOf: change.operation.rawValue.utf8)
        out.append(tab)
        if let version = change.version { appendInteger(version, to: &out) } else { appendNull(to: &out) }
        out.append(tab)
        appendEscaped(change.origin, to: &out)
        out.append(tab)
        appendInteger(change.originSequence, to: &out)
        out.append(tab)
        appendInteger(change.baseVersion, to: &out)
        out.append(tab)
        appendNull(to: &out)
        out.append(tab)
        if let changedAt = change.changedAt { appendEscaped(changedAt, to: &out) } else { appendNull(to: &out) }
        for value in change.values {
            out.append(tab)
            switch value {
            case .null: appendNull(to: &out)
            case .integer(let number): appendInteger(number, to: &out)
            case .text(let text): appendEscaped(text, to: &out)
            case .real, .blob: preconditionFailure("the benchmark table has no real or blob columns")
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    private static func appendNull(to out: inout [UInt8]) {
        out.append(backslash)
        out.append(UInt8(ascii: "N"))
    }

    private static func appendInteger(_ number: Int64, to out: inout [UInt8]) {
        if number < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(truncatingIfNeeded: magnitude % 10) + 48)
            magnitude /= 10
        } while magnitude > 0
        out[start...].reverse()
    }

    private static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 32 || byte == backslash else { continue }
                let escape: [UInt8]
                switch byte {
                case backslash: escape = [backslash, backslash]
                case tab: escape = [backslash, UInt8(ascii: "t")]
                case UInt8(ascii: "\n"): escape = [backslash, UInt8(ascii: "n")]
                case 13: escape = [backslash, UInt8(ascii: "r")]
                case 0: escape = [backslash, UInt8(ascii: "0"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                default: continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                out.append(contentsOf: escape)
                runStart = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
    }
}
