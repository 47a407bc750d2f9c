import Foundation

/// Seconds the coordinator's thread spends in each phase of a job, for the log line that
/// says where a job's time went.
struct PhaseClock {
    enum Phase: String, CaseIterable { case read, send, receive, handOver = "hand-over" }
    private var seconds: [Phase: Double] = [:]

    /// Runs `body`, adding its duration to `phase`.
    @inline(__always)
    mutating func time<T>(_ phase: Phase, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds[phase, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    var summary: String {
        Phase.allCases.map { String(format: "%@ %.2f s", $0.rawValue, seconds[$0] ?? 0) }.joined(separator: ", ")
    }

    mutating func reset() { seconds = [:] }
}
