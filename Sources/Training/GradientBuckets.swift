import Core
import Engine
import Foundation
import Synchronization

/// Sums a model's gradients over the replicas in buckets while the backward pass is still
/// running, as PyTorch DDP does: parameters are grouped, in the reverse of the store's
/// order (the order backward produces them), into buckets of at least `bytes`; as soon as
/// every parameter of a bucket has its gradient, a copy of it (scaled by the replica's
/// weight) goes to a communication thread that sums it over the ring, and `finish` writes
/// the sums back. Buckets are summed in the order they fill, the same on every replica
/// (they run the same network), and the round of bucket i of step s is
/// `DataParallelStep.round(step: s, part: 2 + i)`.
final class GradientBuckets {
    private let store: ParameterStore
    private let replicas: ReplicaSum
    private let weight: Float
    private let step: Int
    /// Each bucket's range of the flat buffer, and the entries it waits for.
    private let buckets: [(range: Range<Int>, keys: Set<String>)]
    private let bucketOf: [String: Int]
    private var waiting: [Set<String>]
    private var sent: [Bool]
    private var order: [Int] = []
    private let queue = Mutex<(jobs: [(Int, [Float])], results: [Int: Result<[Float], Error>], closed: Bool)>(([], [:], false))
    private let available = DispatchSemaphore(value: 0)
    /// Signalled once per bucket summed (or failed).
    private let summed = DispatchSemaphore(value: 0)

    init(store: ParameterStore, bytes: Int, replicas: ReplicaSum, weight: Float, step: Int) {
        self.store = store
        self.replicas = replicas
        self.weight = weight
        self.step = step
        var buckets: [(range: Range<Int>, keys: Set<String>)] = []
        var current: (range: Range<Int>, keys: Set<String>)?
        for entry in store.entries.reversed() where entry.isParameter {
            if let open = current, open.range.lowerBound == entry.range.upperBound {
                current = (entry.range.lowerBound..<open.range.upperBound, open.keys.union([entry.key]))
            } else {
                if let open = current { buckets.append(open) }
                current = (entry.range, [entry.key])
            }
            if let open = current, open.range.count * 4 >= bytes {
                buckets.append(open)
                current = nil
            }
        }
        if let open = current { buckets.append(open) }
        self.buckets = buckets
        var bucketOf: [String: Int] = [:]
        for (index, bucket) in buckets.enumerated() { for key in bucket.keys { bucketOf[key] = index } }
        self.bucketOf = bucketOf
        waiting = buckets.map(\.keys)
        sent = [Bool](repeating: false, count: buckets.count)
        // The thread holds the buckets until it returns (after `finish`); they do not hold
        // the thread, or neither would ever be freed.
        let box = UncheckedBox(self)
        Thread { box.value.communicate() }.start()
    }

    var count: Int { buckets.count }

    /// The backward pass has the final gradient of `entry` (on the compute thread).
    func ready(_ entry: ParameterStore.Entry) {
        guard let index = bucketOf[entry.key] else { return }
        precondition(waiting[index].remove(entry.key) != nil, "\(entry.key) has its gradient twice: buckets need each parameter used once")
        if waiting[index].isEmpty { send(index) }
    }

    /// Sends what is left, waits for every sum and writes them into the store's gradients.
    func finish() throws {
        for index in buckets.indices where !sent[index] { send(index) }
        queue.withLock { $0.closed = true }
        available.signal()
        for _ in buckets.indices { summed.wait() }
        let results = queue.withLock { state in
            defer { state.results = [:] }
            return state.results
        }
        for index in order {
            let sum = try results[index]!.get()
            store.gradients.replaceSubrange(buckets[index].range, with: sum)
        }
    }

    private func send(_ index: Int) {
        sent[index] = true
        order.append(index)
        let slice = store.gradients[buckets[index].range].map { $0 * weight }
        queue.withLock { $0.jobs.append((index, slice)) }
        available.signal()
    }

    /// The communication thread: sums buckets in the order they were sent.
    private func communicate() {
        var failure: Error?
        while true {
            let next = queue.withLock { state -> (Int, [Float])?? in
                if !state.jobs.isEmpty { return .some(state.jobs.removeFirst()) }
                return state.closed ? .some(nil) : nil
            }
            guard let job = next else { available.wait(); continue }
            guard let (index, bucket) = job else { return }
            var values = bucket
            // After a failure the ring is broken: later buckets fail at once.
            let result: Result<[Float], Error> =
                failure.map { .failure($0) }
                ?? Result {
                    try replicas.sum(&values, round: DataParallelStep.round(step: step, part: 2 + index))
                    return values
                }
            if case .failure(let error) = result { failure = error }
            queue.withLock { $0.results[index] = result }
            summed.signal()
        }
    }
}
