/// Hub-clock times as ISO 8601 UTC text with milliseconds (`2026-11-26T09:13:33.123Z`, the form of
/// ``SiteClock/format(_:)``), written without a date formatter: ingest stamps every row it writes with one.
enum HubTime {
    static func format(_ time: Double) -> String {
        let milliseconds = Int64((time * 1000).rounded())
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
        bytes.append(0x2e)
        digits(rest % 1000, 3)
        bytes.append(0x5a)
        return String(decoding: bytes, as: UTF8.self)
    }
}
