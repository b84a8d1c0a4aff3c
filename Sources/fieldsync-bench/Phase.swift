/// Time and memory of one measured phase.
struct Phase: Codable {
    /// Seconds inside the timed pipeline calls only.
    var seconds: Double
    /// CPU seconds of the process inside the same calls.
    var cpuSeconds: Double
    /// Peak resident bytes during the phase (see ``PeakMemory``).
    var peakMemoryBytes: Int
    /// Resident bytes when the phase started, after freed heap was returned: the part of the peak that is not the
    /// phase's own.
    var startMemoryBytes: Int
    /// Seconds spent generating rows during the phase, excluded from ``seconds``.
    var generationSeconds: Double
    /// Named parts of ``seconds``, where the phase can time them separately (bundle read).
    var split: [String: Double] = [:]

    init(
        _ clock: Stopwatch, peakMemoryBytes: Int, startMemoryBytes: Int, generationSeconds: Double = 0,
        split: [String: Double] = [:]
    ) {
        seconds = clock.seconds
        cpuSeconds = clock.cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.startMemoryBytes = startMemoryBytes
        self.generationSeconds = generationSeconds
        self.split = split
    }

    /// The better of two runs of the same phase: the faster run's times, the higher peak memory.
    func best(with other: Phase) -> Phase {
        var best = other.seconds < seconds ? other : self
        best.peakMemoryBytes = max(peakMemoryBytes, other.peakMemoryBytes)
        best.startMemoryBytes = max(startMemoryBytes, other.startMemoryBytes)
        return best
    }
}
