import Foundation
import Synchronization

/// Writes training checkpoints on a thread of its own, so that the coordinator's socket
/// thread — its heartbeats above all — never waits on the disk. Writes run in the order
/// they are handed over; the socket thread collects their outcomes with `finished`.
final class CheckpointWriter: @unchecked Sendable {
    struct Outcome {
        let run: UInt64
        let step: Int
        let dice: Double?
        /// Nil when the files are written; why not otherwise.
        let error: String?
    }

    private let queue = DispatchQueue(label: "tessera.checkpoints")
    private let outcomes = Mutex<[Outcome]>([])

    /// Writes a run's checkpoint files in the background.
    func write(run: UInt64, directory: String, step: Int, dice: Double?, weights: [UInt8], optimizer: [UInt8], model: [UInt8]) {
        queue.async { [self] in
            var error: String?
            do { try TrainingJob.writeCheckpointFiles(directory: directory, step: step, weights: weights, optimizer: optimizer, model: model) } catch let e {
                error = "cannot write its checkpoint in \(directory): \(e)"
            }
            let outcome = Outcome(run: run, step: step, dice: dice, error: error)
            outcomes.withLock { $0.append(outcome) }
        }
    }

    /// Removes a run's checkpoint folders but the one its record names, after the writes before.
    func prune(directory: String, keeping step: Int) {
        queue.async { TrainingJob.removeCheckpoints(directory: directory, except: step) }
    }

    /// The writes finished since the last call, oldest first.
    func finished() -> [Outcome] {
        outcomes.withLock { taken in
            defer { taken.removeAll() }; return taken
        }
    }

    /// Waits for every write handed over (a coordinator stopping).
    func drain() { queue.sync {} }
}
