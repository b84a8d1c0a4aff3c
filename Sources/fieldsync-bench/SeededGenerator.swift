/// xoshiro256** seeded through SplitMix64: fast, and the same numbers for the same seed on every machine.
///
/// `SystemRandomNumberGenerator` cannot be seeded, and the benchmark must produce the same bytes on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    init(seed: UInt64) {
        var mixer = seed
        s0 = Self.splitMix(&mixer)
        s1 = Self.splitMix(&mixer)
        s2 = Self.splitMix(&mixer)
        s3 = Self.splitMix(&mixer)
    }

    /// A generator for item `index` of the stream `seed`: any row can be made again on its own.
    init(seed: UInt64, index: UInt64) {
        var mixer = seed ^ (index &* 0xD6E8_FEB8_6659_FD93)
        self.init(seed: Self.splitMix(&mixer))
    }

    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A number in `0..<bound` (multiply-high; the bias is below 2^-40 for the bounds used here).
    mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A number in `range`.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// True with probability `1 / n`.
    mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }

    /// An index into a list of `count` items, skewed toward the front like word frequencies (roughly Zipf).
    mutating func skewed(_ count: Int) -> Int {
        let u = Double(next() >> 11) * 0x1.0p-53
        return min(count - 1, Int(Double(count) * u * u * u))
    }

    private static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
