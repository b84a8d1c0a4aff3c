/// Deterministic pseudo-random numbers (SplitMix64), so that a run can be repeated from its seed.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }
}

/// Mutations of an input, from bit flips to splices with another corpus entry, plus a few that know the format:
/// numbers replaced by huge, negative or fractional ones, and the bytes that matter to JSON, tar and batches.
enum Mutator {
    static let interestingBytes: [UInt8] = [
        0, 1, 0x7f, 0x80, 0xff, 0x09, 0x0a, 0x0d, 0x5c, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x2e, 0x2d, 0x30,
        0x37, 0x39, 0x65, 0x4e, 0x78, 0x67, 0x4c, 0x4b, 0xef, 0xbb, 0xbf,
    ]
    static let interestingNumbers = [
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616", "-1", "0",
        "-9223372036854775808", "4.0", "5.", "007", "1e300", "-0", "1E2", "2147483648", "4294967296", "65536",
        "16777217",
    ]

    static func mutate(_ input: [UInt8], corpus: [[UInt8]], random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.below(4)) {
            switch random.below(10) {
            case 0 where !bytes.isEmpty:
                let index = random.below(bytes.count)
                bytes[index] ^= 1 << UInt8(random.below(8))
            case 1 where !bytes.isEmpty:
                bytes[random.below(bytes.count)] = interestingBytes[random.below(interestingBytes.count)]
            case 2:
                let insert = (0..<(1 + random.below(8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                bytes.insert(contentsOf: insert, at: random.below(bytes.count + 1))
            case 3 where !bytes.isEmpty:
                let start = random.below(bytes.count)
                let end = min(bytes.count, start + 1 + random.below(64))
                bytes.removeSubrange(start..<end)
            case 4 where !bytes.isEmpty:
                let start = random.below(bytes.count)
                let end = min(bytes.count, start + 1 + random.below(256))
                bytes.insert(contentsOf: bytes[start..<end], at: random.below(bytes.count + 1))
            case 5 where bytes.count > 1:
                bytes.removeLast(1 + random.below(min(bytes.count - 1, 1024)))
            case 6 where !corpus.isEmpty:
                let other = corpus[random.below(corpus.count)]
                let cut = random.below(bytes.count + 1)
                let from = random.below(other.count + 1)
                bytes = Array(bytes[0..<cut]) + Array(other[from...])
            case 7:
                bytes = replaceNumber(bytes, random: &random)
            case 8 where bytes.count >= 4:
                // Overwrite a 32-bit big-endian length with an edge value.
                let index = random.below(bytes.count - 3)
                let values: [UInt32] = [0, 1, 0xffff_ffff, 0x7fff_ffff, 65536, 65537, UInt32(bytes.count)]
                let value = values[random.below(values.count)]
                for offset in 0..<4 { bytes[index + offset] = UInt8(truncatingIfNeeded: value >> (24 - 8 * offset)) }
            default:
                if !bytes.isEmpty {
                    let index = random.below(bytes.count)
                    bytes[index] = UInt8(truncatingIfNeeded: random.next())
                }
            }
        }
        return bytes
    }

    /// Replaces one run of ASCII digits with a number from ``interestingNumbers``.
    static func replaceNumber(_ bytes: [UInt8], random: inout SplitMix64) -> [UInt8] {
        guard !bytes.isEmpty else { return bytes }
        var start = random.below(bytes.count)
        var tries = 0
        while tries < 64, !(bytes[start] >= 0x30 && bytes[start] <= 0x39) {
            start = random.below(bytes.count)
            tries += 1
        }
        guard bytes[start] >= 0x30 && bytes[start] <= 0x39 else { return bytes }
        while start > 0, bytes[start - 1] >= 0x30 && bytes[start - 1] <= 0x39 { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] >= 0x30 && bytes[end] <= 0x39 { end += 1 }
        let number = Array(interestingNumbers[random.below(interestingNumbers.count)].utf8)
        return Array(bytes[0..<start]) + number + Array(bytes[end...])
    }
}
