import Core
import Engine
import Foundation

/// A model's training state in two safetensors files, as checkpoints hold it and as a
/// replica joining a data-parallel run receives it: the weights and running statistics
/// under their PyTorch keys, and the optimiser's state under PyTorch's names
/// (`exp_avg.KEY` and `exp_avg_sq.KEY` for AdamW, `momentum_buffer.KEY` for SGD).
public enum TrainingState {
    /// The weights and running statistics, and the keys the PyTorch module holds that the
    /// network never uses (deterministic values, `Architecture.unusedParameterShapes`): PyTorch
    /// loads the file with `strict=True`.
    public static func weights(_ trainer: ModelTrainer, metadata: [String: String] = [:]) throws -> Data {
        let unused = trainer.architecture.unusedParameterShapes.map { ($0.key, $0.shape, DeterministicWeights.values($0.key, shape: $0.shape)) }
        return try SafeTensors.encode(
            trainer.store.entries.map { ($0.key, $0.shape, Array(trainer.store.values[$0.range])) } + unused,
            metadata: metadata)
    }

    /// What a saved model says of itself: the pixel size it was trained at, when known.
    public static func metadata(_ data: TileDataset) -> [String: String] {
        data.pixelSize.map { ["pixel_size": String(format: "%.6g", $0)] } ?? [:]
    }

    public static func optimizer(_ trainer: ModelTrainer) throws -> Data {
        let (first, second) = momentNames(trainer.optimizer)
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for entry in trainer.store.entries where entry.isParameter {
            tensors.append((first + entry.key, entry.shape, Array(trainer.optimizerState.first[entry.range])))
            if let second { tensors.append((second + entry.key, entry.shape, Array(trainer.optimizerState.second[entry.range]))) }
        }
        return try SafeTensors.encode(tensors)
    }

    /// Replaces `trainer`'s weights and optimiser state by those of `weights` and
    /// `optimizer`, after `step` steps; every tensor must be there, with its shape.
    public static func load(_ trainer: ModelTrainer, weights: SafeTensorsWeights, optimizer moments: SafeTensorsWeights, step: Int) throws {
        try trainer.store.load(from: weights, ignoring: trainer.architecture.unusedKeys)
        var state = Optimizer.State(count: trainer.store.values.count, for: trainer.optimizer)
        state.step = step
        let (first, second) = momentNames(trainer.optimizer)
        for entry in trainer.store.entries where entry.isParameter {
            state.first.replaceSubrange(entry.range, with: try moments.take(first + entry.key, shape: entry.shape))
            if let second { state.second.replaceSubrange(entry.range, with: try moments.take(second + entry.key, shape: entry.shape)) }
        }
        try moments.finish(ignoring: [])
        trainer.optimizerState = state
    }

    static func momentNames(_ optimizer: Optimizer) -> (String, String?) {
        if case .sgd = optimizer { return ("momentum_buffer.", nil) }
        return ("exp_avg.", "exp_avg_sq.")
    }
}
