import Core
import Engine
import Foundation

/// One worker's replica in a data-parallel run: it computes its share of each step's global
/// batch, sums gradients with its ring, applies the step, and keeps the state of the last
/// committed step so that a ring re-formed after a loss can redo the step in flight from it
/// (Horovod Elastic's commit and rollback; the coordinator's `TrainingRing` decides).
public final class TrainingReplica {
    public let trainer: ModelTrainer
    public let data: TileDataset
    public let settings: TrainingSettings
    /// Steps the replica's state has applied.
    public private(set) var step: Int
    /// The committed state: parameters, running statistics and optimiser state after
    /// `committedStep` steps.
    private var committed: (values: [Float], optimizer: Optimizer.State)
    public private(set) var committedStep: Int

    public init(trainer: ModelTrainer, data: TileDataset, settings: TrainingSettings, step: Int = 0) {
        self.trainer = trainer
        self.data = data
        self.settings = settings
        self.step = step
        committed = (trainer.store.values, trainer.optimizerState)
        committedStep = step
    }

    /// Runs step `step` on `share` (slots of the global batch), summing over `replicas`;
    /// returns the global loss and a digest of the parameters after the step.
    public func run(step: Int, share: Range<Int>, replicas: ReplicaSum) throws -> (loss: Double, digest: String) {
        precondition(step == self.step, "step \(step) run on a replica at step \(self.step): roll back first")
        let samples = try share.map { try data.sample(step: step, slot: $0) }
        let loss = try DataParallelStep.gradients(
            trainer, images: samples.map(\.image), masks: samples.map(\.mask), globalCount: settings.batch,
            normalisation: .batch(), randoms: settings.dropoutRandoms(step: step, slots: share),
            replicas: replicas, step: step,
            bucketBytes: settings.bucketMegabytes.map { max(4, Int($0 * 1_048_576)) },
            synchronisedBatchNorm: settings.synchronisedBatchNorm ?? false)
        _ = try settings.apply(to: trainer, step: step, loss: loss)
        try DataParallelStep.averageRunningStatistics(trainer, shareCount: share.count, globalCount: settings.batch, replicas: replicas, step: step)
        self.step += 1
        return (loss, Self.digest(trainer.store.values))
    }

    /// The step in flight is committed by every replica: its state becomes the one to roll
    /// back to.
    public func commit() {
        committed = (trainer.store.values, trainer.optimizerState)
        committedStep = step
    }

    /// Back to the last committed state (the ring was re-formed mid-step).
    public func rollBack() {
        trainer.store.values = committed.values
        trainer.optimizerState = committed.optimizer
        step = committedStep
    }

    /// The committed state, for a replica joining the ring (`TrainingState`'s two files).
    public func committedState() throws -> (weights: Data, optimizer: Data, step: Int) {
        let current = (trainer.store.values, trainer.optimizerState)
        defer { (trainer.store.values, trainer.optimizerState) = current }
        (trainer.store.values, trainer.optimizerState) = committed
        return (try TrainingState.weights(trainer), try TrainingState.optimizer(trainer), committedStep)
    }

    /// Takes a committed state received from a member (joining at step `step`).
    public func load(weights: Data, optimizer: Data, step: Int) throws {
        try TrainingState.load(
            trainer, weights: try SafeTensorsWeights(data: weights, name: "received weights"),
            optimizer: try SafeTensorsWeights(data: optimizer, name: "received optimizer state"), step: step)
        self.step = step
        commit()
    }

    /// FNV-1a 64 over the parameters' bits, in 16 hex digits.
    public static func digest(_ values: [Float]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01B3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
