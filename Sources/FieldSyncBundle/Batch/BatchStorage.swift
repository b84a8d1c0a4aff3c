/// The bytes of one batch entry, shared by the ``ChangeBatch`` values made from it.
///
/// A storage is filled before its batch is handed out and never changes while a batch refers to it; only then may
/// ``BatchStoragePool`` fill it again for a later batch.
final class BatchStorage: @unchecked Sendable {
    // @unchecked Sendable is sound because the bytes are written only by the payload reader: before the first batch
    // refers to them, and again only once `isKnownUniquelyReferenced` shows that no batch does any more. A batch
    // only reads them. The runtime's release of the last batch reference and the uniqueness check order those reads
    // before the next writes, as for the copy-on-write buffers of the standard library.
    private var memory: UnsafeMutableBufferPointer<UInt8>
    /// How many bytes of `memory` the batch holds.
    private(set) var count: Int

    init(count: Int) {
        memory = .allocate(capacity: Self.capacity(for: count))
        self.count = count
    }

    deinit { memory.deallocate() }

    /// The batch's bytes.
    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: memory[0..<count]) }

    /// The batch's bytes, for filling them.
    var mutableBytes: UnsafeMutableBufferPointer<UInt8> { UnsafeMutableBufferPointer(rebasing: memory[0..<count]) }

    /// Makes the storage hold `count` bytes (contents undefined until filled), growing it if needed.
    ///
    /// - Precondition: no batch refers to this storage.
    fileprivate func reuse(count: Int) {
        if memory.count < count {
            memory.deallocate()
            memory = .allocate(capacity: Self.capacity(for: count))
        }
        self.count = count
    }

    /// Batches of one bundle differ in size by about a row: round up so that a reused storage usually fits the next.
    private static func capacity(for count: Int) -> Int {
        let step = 64 << 10
        return max(1, (count + step - 1) / step) * step
    }
}

/// Hands out batch storages, reusing one as soon as no batch refers to it any more.
///
/// Without it every batch would be a fresh multi-megabyte allocation, which the C allocator may serve with `mmap`
/// and give back with `munmap`, so that the kernel zero-fills its pages again for every batch. A reader whose
/// caller drops each batch before asking for the next cycles through two storages (the one being decoded and the
/// one being filled), which also keeps the read's peak memory lower. Used by one thread only.
struct BatchStoragePool {
    /// Storages handed out recently; at most `limit`, so batches the caller keeps are not also kept alive here.
    private var storages: [BatchStorage] = []
    private let limit = 3

    /// A storage for `count` bytes, to be filled before it is handed to a batch.
    mutating func storage(count: Int) -> BatchStorage {
        for index in storages.indices where isKnownUniquelyReferenced(&storages[index]) {
            storages[index].reuse(count: count)
            return storages[index]
        }
        let storage = BatchStorage(count: count)
        if storages.count == limit { storages.removeFirst() }
        storages.append(storage)
        return storage
    }
}
