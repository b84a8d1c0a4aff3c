#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Accumulates wall-clock and CPU time over the sections it is asked to time, and only those.
///
/// CPU time is the whole process's (every thread), so a wall time well above it means the section waited: for
/// the disk, or for a core that another process was using.
struct Stopwatch {
    private(set) var seconds: Double = 0
    private(set) var cpuSeconds: Double = 0

    /// Runs `body` and adds its duration.
    mutating func time<R>(_ body: () throws -> R) rethrows -> R {
        let start = Self.now(CLOCK_MONOTONIC)
        let cpuStart = Self.now(CLOCK_PROCESS_CPUTIME_ID)
        defer {
            seconds += Self.now(CLOCK_MONOTONIC) - start
            cpuSeconds += Self.now(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
        }
        return try body()
    }

    private static func now(_ clock: clockid_t) -> Double {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
