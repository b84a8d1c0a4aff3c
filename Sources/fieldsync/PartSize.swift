import ArgumentParser
import FieldSyncBundle

/// Part sizes given on the command line: bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024), such as
/// `3.9G`, `650M`, `1024K` or `4000000000`.
enum PartSize {
    /// The bytes `text` stands for.
    ///
    /// - Throws: `ValidationError` naming `option`, for text that is not a size or a size outside
    ///   ``BundleWriter/partSizeRange``.
    static func parse(_ text: String, option: String) throws -> Int64 {
        let units: [Character: Double] = [
            "K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024,
        ]
        var number = Substring(text)
        var multiplier = 1.0
        if let last = number.last?.uppercased().first, let unit = units[last] {
            multiplier = unit
            number = number.dropLast()
        }
        let range = BundleWriter.partSizeRange
        let allowed =
            "give a size from \(range.lowerBound / 1024)K to \(range.upperBound >> 40)T, such as 3.9G, 650M, "
            + "1024K or a number of bytes"
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.filter({ $0 == "." }).count <= 1, number != ".", let value = Double(number), value.isFinite
        else {
            throw ValidationError("\(option) '\(text)' is not a size; \(allowed)")
        }
        let bytes = (value * multiplier).rounded(.down)
        guard bytes >= Double(range.lowerBound), bytes <= Double(range.upperBound) else {
            throw ValidationError("\(option) '\(text)' is outside what a bundle part may be; \(allowed)")
        }
        return Int64(bytes)
    }
}
