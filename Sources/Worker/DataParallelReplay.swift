import Core
import Engine
import Foundation
import Shared
import Training

/// A data-parallel run replayed on one machine: step s runs on a ring of as many replicas
/// as the cluster's ring had at that step — threads of this process, each with its own
/// ZeroMQ context, summing over loopback exactly as workers do. A run's result is a
/// function of its settings, its data and the ring size at each step alone, so the replay
/// ends with the cluster run's state, bit for bit (`tessera train --replay`).
public enum DataParallelReplay {
    /// The training state (weights, optimiser state) after `steps` steps, step s run on a
    /// ring of `ringSize(s)` replicas. `progress` is called after each step.
    public static func run(
        settings: TrainingSettings, dataFolder: String, steps: Int, ringSize: (Int) -> Int,
        progress: (Int) -> Void = { _ in }
    ) throws -> (weights: Data, optimizer: Data) {
        var replicas: [TrainingReplica] = []
        for step in 0..<steps {
            let size = max(1, ringSize(step))
            if replicas.count != size {
                // The ring changed: new replicas take the committed state, as joiners do.
                let state = try replicas.first.map { try $0.committedState() }
                replicas = try (0..<size).map { _ in
                    let replica = TrainingReplica(
                        trainer: try settings.trainer(store: try settings.initialStore(weights: nil)),
                        data: try settings.datasets(dataFolder: dataFolder).training, settings: settings)
                    if let state { try replica.load(weights: state.weights, optimizer: state.optimizer, step: state.step) }
                    return replica
                }
            }
            let ring = try LocalRing(members: size)
            let boxes = replicas.map { UncheckedBox($0) }
            let shares = (0..<size).map { r in (r * settings.batch / size)..<((r + 1) * settings.batch / size) }
            let digests = try ring.run { member in
                try boxes[member.rank].value.run(step: step, share: shares[member.rank], replicas: member).digest
            }.map { try $0.get() }
            guard Set(digests).count == 1 else { throw TesseraError("replay", "replicas differ at step \(step + 1)", code: .mismatch) }
            replicas.forEach { $0.commit() }
            progress(step + 1)
        }
        guard let first = replicas.first else { throw TesseraError("replay", "no step to replay") }
        let state = try first.committedState()
        return (state.weights, state.optimizer)
    }

    /// What a replay of a cluster run found.
    public struct Verdict: Sendable {
        /// The checkpoint replayed to (steps).
        public let step: Int
        /// The replay's weights after `step` steps.
        public let weights: Data
        /// Whether they are the run's checkpoint, bit for bit.
        public let identical: Bool
    }

    /// Replays the run whose folder (under the coordinator's state directory) is `runFolder`
    /// to its last checkpoint, on its data in `dataFolder`, ring size by ring size as its
    /// job.json records, and compares the weights with that checkpoint's.
    public static func replay(runFolder: String, dataFolder: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Verdict {
        let record = try TrainingRunRecord.read(runFolder + "/job.json")
        let settings = try JSONDecoder().decode(TrainingSettings.self, from: Data(record.settings.utf8))
        guard record.step > 0 else { throw TesseraError(runFolder, "the run has no checkpoint after step 0 to compare with") }
        let (weights, _) = try run(
            settings: settings, dataFolder: dataFolder, steps: record.step, ringSize: record.ringSize(atStep:),
            progress: { progress($0, record.step) })
        let checkpoint = runFolder + "/" + CheckpointLayout.folder(step: record.step) + "/" + CheckpointLayout.weights
        let trained = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        return Verdict(step: record.step, weights: weights, identical: trained == weights)
    }
}
