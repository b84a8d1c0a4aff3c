import FieldSyncCore
import FieldSyncPostgres
import FieldSyncTesting
import Foundation
import Testing

/// A batch held in memory, for feeding a hub store directly.
struct MemoryBatch: ChangeBatchSource {
    var schema: TableSchema
    var changes: [Change]

    @discardableResult
    func forEach(_ body: (Change) throws -> Void) throws -> Int {
        for change in changes { try body(change) }
        return changes.count
    }
}

/// A site bundle made in memory. `beforeFirstBatch` runs when the store asks for the first batch (inside its
/// transaction), so a test can hold an ingest open.
func memoryBundle(
    id: String, site: String, sequence: UInt64, changesThrough: Int64, hubVersion: Int64 = 0,
    acknowledgedReturn: Int64 = 0, batches: [MemoryBatch], beforeFirstBatch: @escaping () -> Void = {}
) -> IncomingBundle {
    var remaining = batches
    var first = true
    return IncomingBundle(
        bundleID: id, site: site, sequence: sequence,
        prerequisites: [SyncProperty.hubVersion: hubVersion, SyncProperty.acknowledgedReturn: acknowledgedReturn],
        properties: [SyncProperty.changesThrough: String(changesThrough)], source: "memory:\(id)",
        nextBatch: {
            if first {
                first = false
                beforeFirstBatch()
            }
            return remaining.isEmpty ? nil : remaining.removeFirst()
        })
}

/// A value shared between threads in a test, behind a lock.
final class Shared<T>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var stored: T

    init(_ value: T) { stored = value }

    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Runs `body` on a new thread; the returned semaphore is signalled when it has finished.
func onThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.start()
    return done
}

/// The keys (first column) of the changes a return plan streams.
func streamedKeys(_ store: PostgresHubStore, _ plan: ReturnPlan) throws -> [String] {
    var keys: [String] = []
    _ = try store.streamReturn(plan) { change, _ in
        keys.append("\(change.operation.rawValue):\(change.values[0].textValue ?? "\(change.values[0])")")
    }
    return keys
}

let peopleSchema = try! TableSchema(
    name: "people",
    columns: [
        Column(name: "id", type: .text, nullable: false), Column(name: "name", type: .text),
        Column(name: "age", type: .integer),
    ],
    primaryKey: ["id"])

func person(_ id: String, _ name: String, _ age: Int64, site: String, seq: Int64, base: Int64 = 0) -> Change {
    Change(
        operation: .insert, origin: site, originSequence: seq, baseVersion: base,
        values: [.text(id), .text(name), .integer(age)])
}

extension Value {
    var text: String? { if case .text(let text) = self { text } else { nil } }
}
