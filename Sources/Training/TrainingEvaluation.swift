import Core
import Engine
import Foundation

/// What a saved model gets beyond the training state, on one machine (`TrainingRun`) and on
/// the worker that writes a data-parallel run's checkpoint alike: batch-norm statistics
/// recalibrated over training batches (precise BN), and the held-out Dice.
public enum TrainingEvaluation {
    /// Replaces the running statistics by the average of the batch statistics of
    /// `settings.preciseBatchNormBatches` global training batches, drawn past the run's last
    /// step (any fixed batches serve; these are the same on every machine).
    /// A channel with no variance in any of those batches (dead on the calibration data:
    /// its variance would be 0, and normalising by it would blow up whatever reaches it
    /// later) keeps the statistics it had.
    public static func recalibrateBatchNorm(_ trainer: ModelTrainer, data: TileDataset, settings: TrainingSettings) throws {
        let count = settings.preciseBatchNormBatches
        guard count > 0 else { return }
        let before = trainer.store.values
        for k in 0..<count {
            let (images, _) = try data.batch(step: settings.steps + k, size: settings.batch)
            let tape = Tape(store: trainer.store, normalisation: .batch(momentum: 1 / Double(k + 1)), recordsGradients: false)
            _ = trainer.network.logits(tape.input(images), on: tape)
        }
        keepStatisticsWithoutSignal(trainer.store, before: before)
    }

    /// Puts back the running mean and variance of every channel whose recalibrated variance
    /// is not positive; returns how many channels.
    @discardableResult
    public static func keepStatisticsWithoutSignal(_ store: ParameterStore, before: [Float]) -> Int {
        var kept = 0
        for entry in store.entries where entry.key.hasSuffix(".running_var") {
            let mean = store.entry(String(entry.key.dropLast("running_var".count)) + "running_mean")
            for (channel, index) in entry.range.enumerated() where !(store.values[index] > 0) || !store.values[index].isFinite {
                store.values[index] = before[index]
                if let mean { store.values[mean.range.lowerBound + channel] = before[mean.range.lowerBound + channel] }
                kept += 1
            }
        }
        return kept
    }

    /// Dice of the thresholded predictions over every held-out tile together.
    public static func validationDice(_ trainer: ModelTrainer, data: TileDataset, batch: Int) throws -> Double {
        var intersection = 0.0, predicted = 0.0, truth = 0.0
        for start in stride(from: 0, to: data.tiles.count, by: batch) {
            let items = try (start..<min(start + batch, data.tiles.count)).map { try data.item($0, augmentation: nil) }
            let logits = trainer.logits(images: items.map(\.image))
            for (z, item) in zip(logits, items) {
                for (value, label) in zip(z.data, item.mask) {
                    let p: Double = value > 0 ? 1 : 0
                    intersection += p * Double(label)
                    predicted += p
                    truth += Double(label)
                }
            }
        }
        return predicted + truth == 0 ? 1 : 2 * intersection / (predicted + truth)
    }

    /// The model as `model.safetensors` holds it — recalibrated statistics — and its
    /// held-out Dice when there are held-out tiles; the trainer's values are left as they were.
    public static func model(
        _ trainer: ModelTrainer, data: TileDataset, validation: TileDataset?,
        settings: TrainingSettings
    ) throws -> (weights: Data, dice: Double?) {
        let training = trainer.store.values
        defer { trainer.store.values = training }
        try recalibrateBatchNorm(trainer, data: data, settings: settings)
        let dice = try validation.map { try validationDice(trainer, data: $0, batch: settings.batch) }
        return (try TrainingState.weights(trainer, metadata: TrainingState.metadata(data)), dice)
    }
}
