import Foundation
import Shared
import Synchronization

/// What the status page shows, as the socket thread last published it: other threads (the
/// HTTP server's) read the latest snapshot and never touch the coordinator's state.
/// docs/OPERATIONS.md gives the JSON's fields.
final class StatusBoard: Sendable {
    struct Snapshot: Encodable {
        struct Run: Encodable {
            var job: UInt64, name: String, member: String, state: String, step: Int, steps: Int
            /// [step, loss] pairs, at most `StatusBoard.points` (means over runs of steps).
            var loss: [[Double]]
            /// [step, Dice] of each validation.
            var validation: [[Double]]
            var ring: [String]
        }
        var members: [String]
        var workers: [Wire.Status.Worker]
        var jobs: [Wire.Status.Job]
        var runs: [Run]
        var tilesPerSecond: Double
    }

    /// Loss curves are thinned to this many points.
    static let points = 400
    private let json = Mutex<[UInt8]>(Array("{}".utf8))

    var latest: [UInt8] { json.withLock { $0 } }

    func publish(_ snapshot: Snapshot) {
        guard let data = try? JSONEncoder().encode(snapshot) else { return }
        json.withLock { $0 = Array(data) }
    }

    /// [step, loss] pairs of `losses` (loss i after step i + 1), as means over equal runs.
    static func curve(_ losses: [Double]) -> [[Double]] {
        let per = max(1, (losses.count + points - 1) / points)
        return stride(from: 0, to: losses.count, by: per).map { start in
            let run = losses[start..<min(losses.count, start + per)]
            return [Double(start + run.count), run.reduce(0, +) / Double(run.count)]
        }
    }
}
