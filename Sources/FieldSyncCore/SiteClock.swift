/// Edit times from a site, brought onto the hub's clock for `last_write_wins`.
///
/// A site records each change's edit time with its own clock, which may be far off. Each bundle also says when it
/// was written (its header's `created`, by the same clock). The hub knows two bounds for that moment on its own
/// clock: it cannot be after the hub received the bundle, and it cannot be before the hub wrote the return bundle
/// the site acknowledges in it. When `created` falls outside those bounds by more than ``tolerance``, the site's
/// clock is off by at least the difference: every edit time of the bundle is shifted by it. Whatever the clock,
/// no edit time is taken as later than the moment the hub received the bundle, so a site whose clock runs ahead
/// cannot win by claiming the future. A change without an edit time counts as made when the hub received it.
public struct SiteClock: Sendable, Equatable {
    /// How far a site's clock may be off before the hub corrects it, in seconds.
    public static let tolerance: Double = 300

    /// Seconds added to the site's times to put them on the hub's clock (0 when within tolerance).
    public var offset: Double
    /// When the hub received the bundle, on the hub's clock (seconds since 1970).
    public var received: Double

    public init(offset: Double, received: Double) {
        self.offset = offset
        self.received = received
    }

    /// Whether the site's clock was found off by more than the tolerance.
    public var isCorrected: Bool { offset != 0 }

    /// Assesses a bundle's clock.
    ///
    /// - Parameters:
    ///   - created: the bundle's `created` time (site clock), as ISO 8601 text; unreadable means no correction.
    ///   - received: when the hub received it (hub clock, seconds since 1970).
    ///   - notBefore: when the hub wrote the return bundle the site acknowledges, if any (hub clock).
    public static func assess(created: String, received: Double, notBefore: Double?) -> SiteClock {
        guard let claimed = parse(created) else { return SiteClock(offset: 0, received: received) }
        if claimed > received + tolerance {
            return SiteClock(offset: received - claimed, received: received)
        }
        if let notBefore, claimed < notBefore - tolerance {
            return SiteClock(offset: notBefore - claimed, received: received)
        }
        return SiteClock(offset: 0, received: received)
    }

    /// The hub-clock time of an edit the site stamped `changedAt` (ISO 8601, site clock).
    public func editTime(_ changedAt: String?) -> Double {
        guard let changedAt, let time = Self.parse(changedAt) else { return received }
        return min(time + offset, received)
    }

    /// Seconds since 1970 of an ISO 8601 time such as `2026-11-26T09:13:33.123Z`, `2026-11-26 09:13:33+00` or
    /// `2026-11-26T09:13:33.123456+02:00`; `nil` if the text is not one.
    public static func parse(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes.count >= 19, bytes[4] == 0x2d, bytes[7] == 0x2d, bytes[10] == 0x54 || bytes[10] == 0x20,
            bytes[13] == 0x3a, bytes[16] == 0x3a,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count && bytes[index] == 0x2e {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
        }
        var zone = 0
        if index < bytes.count {
            switch bytes[index] {
            case 0x5a:  // Z
                index += 1
            case 0x2b, 0x2d:  // + or -
                let sign = bytes[index] == 0x2b ? 1 : -1
                guard let hours = number(index + 1..<index + 3) else { return nil }
                index += 3
                var minutes = 0
                if index < bytes.count && bytes[index] == 0x3a { index += 1 }
                if index + 2 <= bytes.count, let parsed = number(index..<index + 2) {
                    minutes = parsed
                    index += 2
                }
                zone = sign * (hours * 3600 + minutes * 60)
            default:
                return nil
            }
        }
        guard index == bytes.count else { return nil }
        // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - zone
        return Double(seconds) + fraction
    }

    /// `2026-11-26T09:13:33.123Z` for seconds since 1970, or with `wholeSeconds` `2026-11-26T09:13:33Z`, the time
    /// cut down to its second. Written without a date formatter: the embedded hub stamps every row it writes.
    public static func format(_ time: Double, wholeSeconds: Bool = false) -> String {
        let milliseconds = wholeSeconds ? Int64(time.rounded(.down)) * 1000 : Int64((time * 1000).rounded())
        var days = milliseconds / 86_400_000
        var rest = milliseconds % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        // Civil date from days since 1970 (Howard Hinnant's algorithm).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(0x30 + value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        bytes.append(0x2d)
        digits(month, 2)
        bytes.append(0x2d)
        digits(day, 2)
        bytes.append(0x54)
        digits(rest / 3_600_000, 2)
        bytes.append(0x3a)
        digits(rest / 60_000 % 60, 2)
        bytes.append(0x3a)
        digits(rest / 1000 % 60, 2)
        if !wholeSeconds {
            bytes.append(0x2e)
            digits(rest % 1000, 3)
        }
        bytes.append(0x5a)
        return String(decoding: bytes, as: UTF8.self)
    }
}
