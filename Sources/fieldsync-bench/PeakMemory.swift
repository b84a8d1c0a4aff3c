#if canImport(Glibc)
    import Glibc
#endif

/// Peak resident memory of this process per benchmark phase.
///
/// On Linux the peak is `VmHWM` from `/proc/self/status`, reset between phases by writing `5` to
/// `/proc/self/clear_refs` (Linux ≥ 4.0). Where that reset fails, the process-lifetime `ru_maxrss` is reported
/// instead and ``source`` says so.
struct PeakMemory {
    enum Source: String, Codable {
        case vmHWM = "VmHWM, reset per phase"
        case maxRSS = "ru_maxrss, process lifetime (the peak could not be reset)"
    }

    /// What ``peak()`` reports; falls back to `ru_maxrss` when a ``reset()`` fails.
    private(set) var source = Source.vmHWM

    /// Returns freed heap to the system, then makes the current resident size the new peak.
    mutating func reset() {
        Self.trimHeap()
        guard source == .vmHWM else { return }
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        var ok = fd >= 0
        if ok {
            ok = write(fd, "5", 1) == 1
            close(fd)
        }
        if !ok { source = .maxRSS }
    }

    /// Peak resident bytes since the last ``reset()`` (or since the start, see ``source``).
    func peak() -> Int {
        if source == .vmHWM, let kilobytes = Self.statusField("VmHWM:") { return kilobytes * 1024 }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024
    }

    /// Resident bytes now.
    func current() -> Int {
        (Self.statusField("VmRSS:") ?? 0) * 1024
    }

    /// glibc's `malloc_trim(0)`, so memory freed by the previous phase is not counted in the next one.
    ///
    /// It is declared in `<malloc.h>`, which the Glibc module does not export, so it is looked up at run time.
    private static func trimHeap() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    /// A `kB` field of `/proc/self/status`.
    private static func statusField(_ name: String) -> Int? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix(name) else { continue }
            return Int(text.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }
}
