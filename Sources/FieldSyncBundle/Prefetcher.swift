import Foundation

/// Runs a blocking producer one element ahead of its consumer, on a thread of its own.
///
/// Each ``next()`` hands over the element produced in the background and at once asks for the following one, so
/// producing element N+1 overlaps with whatever the caller does with element N. At most one produced element
/// waits to be taken, so memory stays bounded. Elements and errors arrive in the order they were produced; once
/// the producer returns `nil` or throws, it is not called again and every later ``next()`` repeats that ending.
///
/// A `Thread` rather than a task: the producer blocks in C (file reads, libarchive, libsodium), which must stay off
/// Swift's cooperative pool. ``stop()`` ends the thread; the owner calls it when the consumer goes away early.
final class Prefetcher<Element: Sendable>: @unchecked Sendable {
    // @unchecked Sendable is sound because the state is split by thread:
    // - `produce`, and everything it reaches, is called only by the worker thread once `init` has started it (the
    //   creator hands it over and keeps no other way to reach what it captured);
    // - every other stored property is read and written only while holding `condition`, which also orders each
    //   element's writes on the worker before its reads on the consumer.
    private let produce: () throws -> Element?
    private let condition = NSCondition()
    /// The consumer wants one more element.
    private var wanted = true
    /// The element produced and not yet taken, or the ending (`nil` or an error), which is never taken away.
    private var ready: Result<Element?, any Error>?
    private var stopping = false
    private var running = true

    /// Starts the worker thread, which begins on the first element at once.
    ///
    /// - Parameter produce: returns the next element, `nil` at the end; called on the worker thread only.
    init(name: String, produce: @escaping () throws -> Element?) {
        self.produce = produce
        let thread = Thread { [self] in work() }
        thread.name = name
        thread.start()
    }

    /// The next element, produced ahead; waits for it if the worker is not done yet.
    func next() throws -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while ready == nil { condition.wait() }
        let result = ready!
        if case .success(.some) = result {
            ready = nil
            wanted = true
            condition.broadcast()
        }
        return try result.get()
    }

    /// Ends the worker thread and waits for it, letting an element in production finish first.
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
    }

    private func work() {
        while true {
            condition.lock()
            while !wanted && !stopping { condition.wait() }
            if stopping {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            wanted = false
            condition.unlock()

            let result = Result { try produce() }

            condition.lock()
            ready = result
            let ended: Bool
            if case .success(.some) = result { ended = false } else { ended = true }
            if ended { running = false }
            condition.broadcast()
            condition.unlock()
            if ended { return }
        }
    }
}
