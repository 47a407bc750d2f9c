import Core
import Foundation
import Synchronization
import Testing

@testable import Engine

/// `Parallel.forEach` through `WorkerPool`: every task runs once per job, whatever the
/// job sizes, the gaps between jobs (helpers polling or asleep), nesting and callers.
@Suite(.serialized) struct WorkerPoolTests {
    /// Atomic counters, one per task.
    final class Counters: @unchecked Sendable {
        let count: Int
        private let values: UnsafeMutablePointer<Atomic<Int>>
        init(_ count: Int) {
            self.count = count
            values = .allocate(capacity: max(1, count))
            for i in 0..<count { (values + i).initialize(to: Atomic(0)) }
        }
        deinit { values.deallocate() }
        func add(_ i: Int) { values[i].add(1, ordering: .relaxed) }
        var all: [Int] { (0..<count).map { values[$0].load(ordering: .relaxed) } }
    }

    /// Runs `count` tasks and returns how often each ran.
    static func runs(_ count: Int, threads: Int = 2) -> [Int] {
        let counts = Counters(count)
        let previous = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = previous }
        Parallel.forEach(count) { counts.add($0) }
        return counts.all
    }

    @Test func everyTaskRunsOnceInManyJobsBackToBack() {
        for job in 0..<1000 {
            let count = job % 37 + 1
            let ran = Self.runs(count, threads: job % 3 + 2)
            #expect(ran == Array(repeating: 1, count: count), "job \(job) of \(count) tasks")
            if ran != Array(repeating: 1, count: count) { return }
        }
    }

    /// A pool of the test's own: other suites running beside this one change
    /// `Parallel.threads` and take the shared pool, and neither promises two threads.
    static let pool = WorkerPool()

    /// Jobs after the helpers have stopped polling and gone to sleep: a helper must wake
    /// and take a task, which two tasks that wait for each other (up to 10 s) show.
    @Test func helpersWakeForAJobAfterSleeping() {
        for pause in [0, 2, 5] {
            usleep(UInt32(pause * 1000) + UInt32(WorkerPool.spinNanoseconds / 1000))
            let arrived = Atomic<Int>(0), met = Counters(2)
            let ran = Self.pool.run(2, helpers: 1) { task in
                arrived.add(1, ordering: .acquiringAndReleasing)
                let deadline = Date().addingTimeInterval(10)
                while arrived.load(ordering: .acquiring) < 2 && Date() < deadline { sched_yield() }
                if arrived.load(ordering: .acquiring) == 2 { met.add(task) }
            }
            #expect(ran && met.all == [1, 1], "after \(pause) ms more than the polling")
            let counts = Counters(64)
            #expect(Self.pool.run(64, helpers: 1) { counts.add($0) })
            #expect(counts.all == Array(repeating: 1, count: 64), "after \(pause) ms more than the polling")
        }
    }

    /// A task that calls `forEach` again, and two threads calling at once: the pool is
    /// taken, and the second call runs on Dispatch's threads instead.
    @Test func nestedAndConcurrentCallsEachRunEveryTask() {
        let inner = Counters(8 * 16)
        Parallel.forEach(8) { outer in
            Parallel.forEach(16) { inner.add(outer * 16 + $0) }
        }
        #expect(inner.all == Array(repeating: 1, count: 8 * 16))
        let results = Mutex<[[Int]]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for _ in 0..<200 {
                let ran = Self.runs(29)
                results.withLock { $0.append(ran) }
            }
        }
        #expect(results.withLock { $0.count == 400 && $0.allSatisfy { $0 == Array(repeating: 1, count: 29) } })
    }

    /// The same map from every thread count: tasks' results never depend on who runs them.
    @Test func resultsDoNotDependOnTheThreadCount() {
        func squares(threads: Int) -> [Float] {
            var out = [Float](repeating: 0, count: 1000)
            let previous = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = previous }
            out.withUnsafeMutableBufferPointer { buffer in
                let target = DisjointPointer(buffer.baseAddress!)
                Parallel.forEach(100) { task in
                    for i in (task * 10)..<(task * 10 + 10) { target.base[i] = Float(i).squareRoot() * 1.5 }
                }
            }
            return out
        }
        let one = squares(threads: 1)
        for threads in 2...4 { #expect(squares(threads: threads) == one) }
    }
}
