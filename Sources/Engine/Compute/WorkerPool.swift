import Core
import Foundation
import Synchronization

/// The threads that help `Parallel.forEach`: the calling thread and up to `threads − 1`
/// helpers take a job's tasks from one counter.
///
/// Between jobs a helper keeps polling for `spinNanoseconds` before it sleeps. A tile runs
/// hundreds of jobs (layers) with short serial gaps between them, and a sleeping thread
/// is slow to wake on a virtual machine (its idle CPU halts): with Dispatch's threads,
/// which sleep at once, an EffUnet-b0 tile took 15–30 ms longer after the machine had been
/// idle for a fraction of a second. onnxruntime's and OpenMP's pools poll the same way.
///
/// A job is published as one 64-bit ticket — generation, task count, next task — and a
/// helper takes task i by swapping in i + 1 for the generation it saw: a helper that
/// wakes late finds the generation moved on and touches nothing. The job's closure sits in
/// one slot that changes only between jobs, and a task counts as finished only after its
/// copy of the closure is released, so the caller returns with no reference left.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle helper polls for the next job before it sleeps.
    static let spinNanoseconds: UInt64 = 1_000_000

    /// Task counts a ticket holds; larger jobs run on Dispatch's threads.
    static let maxTasks = 1 << 20

    private let ticket = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// The running job's closure; written only while no job runs.
    private let body = UnsafeMutablePointer<((Int) -> Void)?>.allocate(capacity: 1)
    private let sleep = NSCondition()
    /// Helpers started (grows to `threads − 1`), and how many the running job may use.
    private var started = 0
    private let allowed = Atomic<Int>(0)

    /// A pool of its own; the engine uses `shared`. Its helpers live as long as the
    /// process, so a pool must too.
    init() { body.initialize(to: nil) }

    /// Runs `task(i)` for i in 0..<count on this thread and up to `helpers` helpers; returns
    /// when all are done. Returns false, having run nothing, when the pool is taken (a
    /// nested or concurrent call) or the job is too large for a ticket.
    func run(_ count: Int, helpers: Int, _ task: (Int) -> Void) -> Bool {
        guard count < Self.maxTasks, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(task) { task in
            body.pointee = task
            finished.store(0, ordering: .relaxed)
            allowed.store(helpers, ordering: .relaxed)
            let generation = publish(count, helpers: helpers)
            work(generation: generation)
            var polls = 0
            while finished.load(ordering: .acquiring) < count {
                polls += 1
                if polls > 1000 { sched_yield() }
            }
            body.pointee = nil
        }
        return true
    }

    private static func generation(_ ticket: UInt64) -> Int { Int(ticket >> 40) }

    /// Takes tasks of job `generation` until none is left.
    private func work(generation: Int) {
        var current = ticket.load(ordering: .acquiring)
        while Self.generation(current) == generation {
            let count = Int((current >> 20) & 0xF_FFFF), next = Int(current & 0xF_FFFF)
            guard next < count else { return }
            let (exchanged, original) = ticket.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            guard exchanged else {
                current = original
                continue
            }
            perform(next)
            finished.add(1, ordering: .releasing)
            current = ticket.load(ordering: .acquiring)
        }
    }

    /// One task, its copy of the closure released on return.
    @inline(never)
    private func perform(_ index: Int) { body.pointee!(index) }

    /// Starts helpers until there are `helpers`, publishes a job of `count` tasks and wakes
    /// the sleepers, under one lock; returns the job's generation.
    private func publish(_ count: Int, helpers: Int) -> Int {
        sleep.lock()
        defer { sleep.unlock() }
        let previous = Self.generation(ticket.load(ordering: .relaxed))
        while started < helpers {
            // A helper starts from the generation before this job, so it joins it.
            let index = started
            let thread = Thread { [unowned self] in
                ThreadName.setCurrent("tessera-engine-\(index + 1)")
                self.help(index, seen: previous)
            }
            thread.name = "tessera-engine-\(index + 1)"
            thread.stackSize = 8 << 20
            thread.start()
            started += 1
        }
        let generation = (previous &+ 1) & 0xFF_FFFF
        ticket.store(UInt64(generation) << 40 | UInt64(count) << 20, ordering: .releasing)
        sleep.broadcast()
        return generation
    }

    /// A helper's life: wait for a job it may join, work, repeat.
    private func help(_ index: Int, seen: Int) {
        var seen = seen
        while true {
            let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
            var polls = 0
            while Self.generation(ticket.load(ordering: .acquiring)) == seen {
                polls += 1
                if polls % 64 == 0 && DispatchTime.now().uptimeNanoseconds > deadline {
                    sleep.lock()
                    while Self.generation(ticket.load(ordering: .acquiring)) == seen { sleep.wait() }
                    sleep.unlock()
                }
            }
            seen = Self.generation(ticket.load(ordering: .acquiring))
            if index < allowed.load(ordering: .relaxed) { work(generation: seen) }
        }
    }
}
