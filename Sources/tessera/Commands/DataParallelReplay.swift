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
enum DataParallelReplay {
    /// The training state (weights, optimiser state) after `steps` steps, step s run on a
    /// ring of `ringSize(s)` replicas. `progress` is called after each step.
    static func run(
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
            guard Set(digests).count == 1 else { throw TesseraError("replay", "replicas differ at step \(step + 1)") }
            replicas.forEach { $0.commit() }
            progress(step + 1)
        }
        guard let first = replicas.first else { throw TesseraError("replay", "no step to replay") }
        let state = try first.committedState()
        return (state.weights, state.optimizer)
    }
}
