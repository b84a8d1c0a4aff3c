import FieldSyncCore

/// Makes rows of the `beneficiaries` table: deterministic for a seed, any row reproducible on its own.
///
/// Each row is about 1.1 KB of COPY text, most of it a free-text note of ~1 KB made of templated and free
/// sentences drawn from ``Vocabulary`` with skewed frequencies, so that it compresses like real case notes rather
/// than like random bytes or one repeated string. Notes sometimes hold a newline (escaped in COPY text).
struct BeneficiaryGenerator {
    static let tableName = "beneficiaries"

    static let schema = try! TableSchema(
        name: tableName,
        columns: [
            Column(name: "id", type: .uuid, nullable: false),
            Column(name: "given_name", type: .text),
            Column(name: "family_name", type: .text),
            Column(name: "birth_date", type: .date),
            Column(name: "household_size", type: .integer),
            Column(name: "region", type: .text),
            Column(name: "registered_at", type: .timestamptz),
            Column(name: "notes", type: .text),
        ],
        primaryKey: ["id"])

    static let origin = "site-a"

    private enum Segment {
        case literal([UInt8])
        case slot(String)
    }

    private static let templates: [[Segment]] = Vocabulary.templates.map(parse)

    let seed: UInt64
    private var notes: [UInt8] = []
    private var scratch: [UInt8] = []

    init(seed: UInt64) {
        self.seed = seed
        notes.reserveCapacity(2048)
        scratch.reserveCapacity(64)
    }

    /// The change that inserts (or, for about one row in seven, updates) row `index`.
    mutating func change(at index: Int) -> Change {
        var random = SeededGenerator(seed: seed, index: UInt64(index))
        let region = Vocabulary.regions[random.skewed(Vocabulary.regions.count)]
        // Registrations run forward from 2023-01-01 at about one every 40 s, in the region's local time.
        let registered = 1_672_531_200 + Int64(index) * 40 + Int64(random.below(40))
        let values: [Value] = [
            .text(uuid(&random)),
            .text(String(decoding: Vocabulary.givenNames[random.skewed(Vocabulary.givenNames.count)], as: UTF8.self)),
            .text(String(decoding: Vocabulary.familyNames[random.skewed(Vocabulary.familyNames.count)], as: UTF8.self)),
            .text(Self.date(daysSinceEpoch: -14_600 + Int64(random.below(33_000)))),
            .integer(Int64(1 + random.skewed(12) + random.below(2))),
            .text(String(decoding: region.name, as: UTF8.self)),
            .text(Self.timestamp(secondsSinceEpoch: registered, offsetMinutes: region.offsetMinutes)),
            random.oneIn(30) ? .null : .text(note(&random)),
        ]
        let update = random.oneIn(7)
        return Change(
            operation: update ? .update : .insert, origin: Self.origin, originSequence: Int64(index + 1),
            baseVersion: update ? Int64(1 + random.below(50_000)) : 0, values: values,
            changedAt: Self.editTime(secondsSinceEpoch: registered, milliseconds: index % 1000))
    }

    // MARK: - Columns

    private func uuid(_ random: inout SeededGenerator) -> String {
        let high = random.next()
        let low = random.next()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i))
            bytes[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i))
        }
        bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
    static func date(daysSinceEpoch days: Int64) -> String {
        let (year, month, day) = civil(days)
        return "\(year)-\(twoDigits(month))-\(twoDigits(day))"
    }

    /// PostgreSQL's `timestamptz` output form: `2024-03-14 09:26:53+03`, or `+05:30` for a partial-hour offset.
    static func timestamp(secondsSinceEpoch seconds: Int64, offsetMinutes: Int) -> String {
        let local = seconds + Int64(offsetMinutes) * 60
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = Int(local - days * 86_400)
        let (year, month, day) = civil(days)
        let sign = offsetMinutes < 0 ? "-" : "+"
        let offset = abs(offsetMinutes)
        var text =
            "\(year)-\(twoDigits(month))-\(twoDigits(day)) \(twoDigits(secondOfDay / 3600)):"
            + "\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60))\(sign)\(twoDigits(offset / 60))"
        if offset % 60 != 0 { text += ":\(twoDigits(offset % 60))" }
        return text
    }

    /// An edit time as a site's capture records it: `2024-03-14T06:26:53.123Z`.
    static func editTime(secondsSinceEpoch seconds: Int64, milliseconds: Int) -> String {
        SiteClock.format(Double(seconds) + Double(milliseconds) / 1000)
    }

    private static func civil(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthPrime + 2) / 5 + 1)
        let month = Int(monthPrime < 10 ? monthPrime + 3 : monthPrime - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    // MARK: - Notes

    /// A note of 700 to 1,350 bytes: sentences until the target length is reached.
    private mutating func note(_ random: inout SeededGenerator) -> String {
        notes.removeAll(keepingCapacity: true)
        let target = 700 + random.below(650)
        while notes.count < target {
            if random.below(100) < 55 {
                templatedSentence(&random)
            } else {
                freeSentence(&random)
            }
            notes.append(random.oneIn(12) ? UInt8(ascii: "\n") : UInt8(ascii: " "))
        }
        notes.removeLast()
        return String(decoding: notes, as: UTF8.self)
    }

    private mutating func freeSentence(_ random: inout SeededGenerator) {
        let count = random.inRange(6...16)
        for position in 0..<count {
            if position > 0 {
                notes.append(random.oneIn(9) ? UInt8(ascii: ",") : UInt8(ascii: " "))
                if notes.last == UInt8(ascii: ",") { notes.append(UInt8(ascii: " ")) }
            }
            let word = Vocabulary.words[random.skewed(Vocabulary.words.count)]
            if position == 0, let first = word.first, first >= 97, first <= 122 {
                notes.append(first - 32)
                notes.append(contentsOf: word.dropFirst())
            } else {
                notes.append(contentsOf: word)
            }
        }
        notes.append(random.oneIn(15) ? UInt8(ascii: "?") : UInt8(ascii: "."))
    }

    private mutating func templatedSentence(_ random: inout SeededGenerator) {
        for segment in Self.templates[random.below(Self.templates.count)] {
            switch segment {
            case .literal(let bytes):
                notes.append(contentsOf: bytes)
            case .slot(let name):
                fill(name, &random)
            }
        }
    }

    private mutating func fill(_ slot: String, _ random: inout SeededGenerator) {
        func pick(_ list: [[UInt8]]) -> [UInt8] { list[random.skewed(list.count)] }
        switch slot {
        case "n": appendNumber(1 + random.skewed(15))
        case "num": appendNumber(random.inRange(5...400) * 50)
        case "age": appendNumber(random.inRange(1...17))
        case "muac": appendNumber(random.inRange(105...135))
        case "code":
            notes.append(UInt8(ascii: "E"))
            appendNumber(random.inRange(100...999))
        case "date": notes.append(contentsOf: Self.date(daysSinceEpoch: 19_358 + Int64(random.below(700))).utf8)
        case "month": notes.append(contentsOf: Vocabulary.months[random.below(12)])
        case "name": notes.append(contentsOf: pick(Vocabulary.givenNames))
        case "family": notes.append(contentsOf: pick(Vocabulary.familyNames))
        case "region": notes.append(contentsOf: Vocabulary.regions[random.skewed(Vocabulary.regions.count)].name)
        case "item": notes.append(contentsOf: pick(Vocabulary.items))
        case "adj": notes.append(contentsOf: pick(Vocabulary.adjectives))
        case "freq": notes.append(contentsOf: pick(Vocabulary.frequencies))
        case "event": notes.append(contentsOf: pick(Vocabulary.events))
        default: preconditionFailure("unknown template slot {\(slot)}")
        }
    }

    private mutating func appendNumber(_ value: Int) {
        scratch.removeAll(keepingCapacity: true)
        var rest = value
        repeat {
            scratch.append(UInt8(truncatingIfNeeded: rest % 10) + 48)
            rest /= 10
        } while rest > 0
        notes.append(contentsOf: scratch.reversed())
    }

    private static func parse(_ template: String) -> [Segment] {
        var segments: [Segment] = []
        var literal: [UInt8] = []
        var slot: [UInt8]?
        for byte in template.utf8 {
            if byte == UInt8(ascii: "{") {
                if !literal.isEmpty { segments.append(.literal(literal)) }
                literal = []
                slot = []
            } else if byte == UInt8(ascii: "}"), let name = slot {
                segments.append(.slot(String(decoding: name, as: UTF8.self)))
                slot = nil
            } else if slot != nil {
                slot!.append(byte)
            } else {
                literal.append(byte)
            }
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        return segments
    }
}
