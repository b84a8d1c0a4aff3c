import FieldSyncBundle
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The input being run, kept where a signal handler can write it out if the process traps or crashes.
nonisolated(unsafe) private var crashInput: UnsafeMutableBufferPointer<UInt8>?
nonisolated(unsafe) private var crashPath: UnsafeMutablePointer<CChar>?

/// Keeps `input` for the crash handler.
private func remember(_ input: [UInt8]) {
    crashInput?.deallocate()
    let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(input.count, 1))
    _ = copy.initialize(from: input)
    crashInput = UnsafeMutableBufferPointer(rebasing: copy[0..<input.count])
}

/// On a trap (SIGILL, SIGTRAP) or a crash, writes the input being run to the crash file, then dies of the signal.
private func installCrashHandler(path: String) {
    crashPath = strdup(path)
    for signal in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
        Glibc.signal(signal) { number in
            if let path = crashPath, let input = crashInput {
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                if fd >= 0 {
                    if let base = input.baseAddress { _ = write(fd, base, input.count) }
                    close(fd)
                }
            }
            Glibc.signal(number, SIG_DFL)
            raise(number)
        }
    }
}

#if FIELDSYNC_LIBFUZZER
    nonisolated(unsafe) private var context: FuzzContext!
    nonisolated(unsafe) private var target = FuzzTarget.envelope

    /// libFuzzer: picks the target (`FIELDSYNC_FUZZ_TARGET`), makes throwaway keys, and writes the seed corpus
    /// into `FIELDSYNC_FUZZ_CORPUS` (the corpus folder libFuzzer is given) before it reads it.
    @_cdecl("LLVMFuzzerInitialize")
    public func fuzzInitialize(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
    ) -> CInt {
        let environment = ProcessInfo.processInfo.environment
        target = environment["FIELDSYNC_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:)) ?? .envelope
        do {
            context = try FuzzContext()
            // libFuzzer ends with exit() once its time is up: remove the scratch folder then.
            atexit { if let context { try? FileManager.default.removeItem(atPath: context.directory) } }
            if let corpus = environment["FIELDSYNC_FUZZ_CORPUS"] {
                try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
                for (index, seed) in try context.seeds(target).enumerated() {
                    try Data(seed).write(to: URL(fileURLWithPath: "\(corpus)/seed-\(index)"))
                }
            }
        } catch {
            print("fieldsync-fuzz: cannot start: \(error)")
            exit(1)
        }
        return 0
    }

    /// libFuzzer's driver, for a program with a `main` of its own.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links every executable with its `main` aliased to `MODULE_main`; this one hands over to libFuzzer.
    @_cdecl("fieldsync_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzTestOneInput(data, size) }
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try context.run(target, input)
        } catch {
            print("fieldsync-fuzz: \(target.rawValue): \(error)")
            abort()
        }
        return 0
    }
#else
    /// The seeded mutation harness: runs every seed, then mutations of the seeds (bit flips, interesting bytes and
    /// numbers, insertions, deletions, duplications, truncations, splices), for a time or iteration budget.
    ///
    /// ```
    /// fieldsync-fuzz [--target envelope|payload|batch]… [--seconds 20] [--iterations N] [--seed 1]
    ///                [--crash-dir DIR] [--write-corpus DIR] [--verbose]
    /// ```
    ///
    /// Exits 0 when no input trapped, crashed or threw anything but a refusal; otherwise writes the input to
    /// `DIR/fuzz-crash-TARGET` and exits non-zero.
    @main struct FuzzMain {
        static func main() {
            var targets: [FuzzTarget] = []
            var seconds = 20.0
            var iterations = Int.max
            var seed: UInt64 = 1
            var crashDirectory = "."
            var corpusDirectory: String?
            var verbose = false
            var arguments = CommandLine.arguments.dropFirst()
            func value() -> String {
                guard let next = arguments.popFirst() else { usage() }
                return next
            }
            while let argument = arguments.popFirst() {
                switch argument {
                case "--target":
                    guard let target = FuzzTarget(rawValue: value()) else { usage() }
                    targets.append(target)
                case "--seconds":
                    guard let number = Double(value()) else { usage() }
                    seconds = number
                case "--iterations":
                    guard let number = Int(value()) else { usage() }
                    iterations = number
                case "--seed":
                    guard let number = UInt64(value()) else { usage() }
                    seed = number
                case "--crash-dir": crashDirectory = value()
                case "--write-corpus": corpusDirectory = value()
                case "--verbose": verbose = true
                default: usage()
                }
            }
            if targets.isEmpty { targets = FuzzTarget.allCases }
            do {
                let context = try FuzzContext()
                defer { try? FileManager.default.removeItem(atPath: context.directory) }
                if let corpusDirectory {
                    for target in targets {
                        let folder = "\(corpusDirectory)/\(target.rawValue)"
                        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                        for (index, seed) in try context.seeds(target).enumerated() {
                            try Data(seed).write(to: URL(fileURLWithPath: "\(folder)/seed-\(index)"))
                        }
                    }
                    return
                }
                for target in targets {
                    let crashFile = "\(crashDirectory)/fuzz-crash-\(target.rawValue)"
                    installCrashHandler(path: crashFile)
                    let count = try run(
                        target, context: context, seconds: seconds / Double(targets.count), iterations: iterations,
                        seed: seed, crashFile: crashFile, verbose: verbose)
                    print("fieldsync-fuzz: \(target.rawValue): \(count) inputs, no finding")
                }
            } catch {
                print("fieldsync-fuzz: \(error)")
                exit(1)
            }
        }

        static func run(
            _ target: FuzzTarget, context: FuzzContext, seconds: Double, iterations: Int, seed: UInt64,
            crashFile: String, verbose: Bool = false
        ) throws -> Int {
            let seeds = try context.seeds(target)
            var random = SplitMix64(seed: seed &+ UInt64(target.rawValue.utf8.count))
            var pool = seeds
            let deadline = Date().addingTimeInterval(seconds)
            var count = 0
            func attempt(_ input: [UInt8]) throws {
                remember(input)
                do {
                    try context.run(target, input)
                } catch {
                    try Data(input).write(to: URL(fileURLWithPath: crashFile))
                    throw FuzzFailure(message: "\(target.rawValue): \(error) (input written to \(crashFile))")
                }
                count += 1
            }
            for (index, input) in seeds.enumerated() {
                try attempt(input)
                if verbose {
                    print("  seed \(index): \(context.lastRefusal.map { "refused, \($0)" } ?? "accepted")")
                }
            }
            while count < iterations, Date() < deadline {
                let base = pool[random.below(pool.count)]
                let input = Mutator.mutate(base, corpus: seeds, random: &random)
                try attempt(input)
                // Keep some mutants to mutate further, so that mutations stack up.
                if random.below(8) == 0 {
                    if pool.count < seeds.count + 256 {
                        pool.append(input)
                    } else {
                        pool[seeds.count + random.below(256)] = input
                    }
                }
            }
            return count
        }

        static func usage() -> Never {
            print(
                "usage: fieldsync-fuzz [--target envelope|payload|batch]… [--seconds S] [--iterations N] "
                    + "[--seed N] [--crash-dir DIR] [--write-corpus DIR] [--verbose]")
            exit(64)
        }
    }
#endif
