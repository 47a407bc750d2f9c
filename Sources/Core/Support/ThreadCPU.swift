import Foundation

/// CPU time by thread role ("tile reader 1", "stitcher", ...), summed over the process's
/// life, for the coordinator's metrics.
///
/// A process's total CPU says whether a machine is saturated; the busiest single thread
/// says what rate the process could reach with cores to spare, since no thread can run
/// faster than one core. Threads add what they ran when they finish a piece of work.
public final class ThreadCPU: @unchecked Sendable {
    /// The process's accounts.
    public static let shared = ThreadCPU()

    private let lock = NSLock()
    private var seconds: [String: Double] = [:]

    /// CPU seconds the calling thread has run.
    public static func current() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Adds `seconds` to `role`.
    public func add(_ role: String, _ seconds: Double) {
        lock.withLock { self.seconds[role, default: 0] += seconds }
    }

    /// Runs `body` on this thread and adds the CPU it took to `role`, even when it throws.
    public func measure<T>(_ role: String, _ body: () throws -> T) rethrows -> T {
        let start = Self.current()
        defer { add(role, Self.current() - start) }
        return try body()
    }

    /// Seconds so far by role.
    public var totals: [String: Double] { lock.withLock { seconds } }
}
