import Dispatch
import Synchronization

/// The engine's one source of parallelism: every kernel splits its work into tasks whose
/// boundaries depend only on the layer's shape, and `forEach` hands them to `threads`
/// threads as they come free. Results therefore never depend on the thread count.
///
/// OpenBLAS runs single-threaded inside these tasks: its own threads spin in
/// `sched_yield` between calls and stole a core from everything else the engine does.
public enum Parallel {
    /// Threads the engine uses (the worker's and `infer`'s `--threads`).
    public static var threads: Int {
        get { threadCount.load(ordering: .relaxed) }
        set { threadCount.store(newValue, ordering: .relaxed) }
    }
    private static let threadCount = Atomic<Int>(2)

    /// Runs `body(i)` for every i in 0..<count, on up to `threads` threads (`WorkerPool`);
    /// returns when all are done. Tasks are taken in order from a shared counter, so uneven
    /// tasks balance.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let workers = min(count, threads)
        guard workers > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        if WorkerPool.shared.run(count, helpers: workers - 1, body) { return }
        // A call from inside a task, or beside another caller: Dispatch's threads.
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedTask(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < count else { return }
                    box.body(i)
                }
            }
        }
    }

    /// Splits 0..<count into `chunks` contiguous ranges of near-equal size and runs them in
    /// parallel (for element-wise passes where every index costs the same).
    public static func forEachRange(_ count: Int, chunks: Int, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(chunks, count))
        forEach(chunks) { chunk in body((chunk * count / chunks)..<((chunk + 1) * count / chunks)) }
    }

    /// Chunks for an element-wise pass over `count` values: one per 64 Ki values, capped
    /// by the thread count (small passes aren't worth waking a thread for).
    public static func chunks(forElements count: Int) -> Int { max(1, min(threads, count >> 16)) }
}

private struct UncheckedTask: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
