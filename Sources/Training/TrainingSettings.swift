import Core
import Engine
import Foundation

/// What a training run is: everything that decides its result, saved with its checkpoints
/// so that `--resume` continues exactly the same run.
public struct TrainingSettings: Codable, Sendable, Equatable {
    public var architecture = "effunet-b0"
    /// Optimiser steps in all (an epoch is one pass's worth of tiles in batches).
    public var steps = 200
    public var batch = 8
    public var tile = 256
    public var scale = 2
    public var lr = 1e-3
    public var optimizer = OptimizerChoice.adamw
    public var loss = LossChoice.bceDice
    /// EfficientNet's drop-connect rate (scaled by block depth); 0 as the seed's EffUnet.
    public var dropConnect = 0.0
    public var schedule = ScheduleChoice.onecycle
    public var warmUpSteps = 0
    public var weightDecay = 0.01
    public var decayNormsAndBiases = false
    public var encoderScale = 1.0
    public var freezeEncoder = false
    /// Gradients clipped to this global norm when set.
    public var clipNorm: Double?
    /// The seed's Dropout2d layers (0.5 after ASPP, 0.1 before the last conv).
    public var dropout = true
    public var augment = true
    /// Lower edges of the masked-fraction bins batches are balanced over.
    public var binEdges: [Double] = [0, 1e-9, 0.1, 0.4]
    public var seed: UInt64 = 1
    public var checkpointEvery = 50
    /// Steps between validations (0: only with checkpoints).
    public var validateEvery = 0
    /// Batches of training tiles the batch norms' running statistics are recalibrated over
    /// before a model is saved (precise BN); 0 keeps the momentum averages.
    public var preciseBatchNormBatches = 16
    /// Held-out slide ids (nil: the last fifth by id).
    public var validation: [String]?
    /// In a data-parallel run: gradients are summed over the ring in buckets of this many
    /// megabytes while the backward pass runs (as DDP's `bucket_cap_mb`); nil sums them in
    /// one all-reduce after it. Part of the run: with 3 or more replicas the bucket bounds
    /// decide the order in which each value's sum is added.
    public var bucketMegabytes: Double?
    /// In a data-parallel run: batch norms normalise with the whole global batch's
    /// statistics, summed over the ring (PyTorch's SyncBatchNorm); otherwise, as DDP by
    /// default, each replica with its own share's. Gradients are then summed after the
    /// backward pass (no buckets).
    public var synchronisedBatchNorm: Bool?
    /// σ of the HED stain jitter added to the augmentations (0.05 is usual); nil for none.
    public var hedJitter: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case architecture
        case steps
        case batch
        case tile
        case scale
        case lr
        case optimizer
        case loss
        case dropConnect
        case schedule
        case warmUpSteps
        case weightDecay
        case decayNormsAndBiases
        case encoderScale
        case freezeEncoder
        case clipNorm
        case dropout
        case augment
        case binEdges
        case seed
        case checkpointEvery
        case validateEvery
        case preciseBatchNormBatches
        case validation
        case bucketMegabytes
        case synchronisedBatchNorm
        case hedJitter
    }

    /// Every field may be absent: it then takes its default (docs/TRAINING.md, "The run's
    /// settings"), so a peer written from the docs sends only what it sets.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try container.decodeIfPresent(String.self, forKey: .architecture) ?? architecture
        steps = try container.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        batch = try container.decodeIfPresent(Int.self, forKey: .batch) ?? batch
        tile = try container.decodeIfPresent(Int.self, forKey: .tile) ?? tile
        scale = try container.decodeIfPresent(Int.self, forKey: .scale) ?? scale
        lr = try container.decodeIfPresent(Double.self, forKey: .lr) ?? lr
        optimizer = try Self.choice(container, .optimizer) ?? optimizer
        loss = try Self.choice(container, .loss) ?? loss
        dropConnect = try container.decodeIfPresent(Double.self, forKey: .dropConnect) ?? dropConnect
        schedule = try Self.choice(container, .schedule) ?? schedule
        warmUpSteps = try container.decodeIfPresent(Int.self, forKey: .warmUpSteps) ?? warmUpSteps
        weightDecay = try container.decodeIfPresent(Double.self, forKey: .weightDecay) ?? weightDecay
        decayNormsAndBiases = try container.decodeIfPresent(Bool.self, forKey: .decayNormsAndBiases) ?? decayNormsAndBiases
        encoderScale = try container.decodeIfPresent(Double.self, forKey: .encoderScale) ?? encoderScale
        freezeEncoder = try container.decodeIfPresent(Bool.self, forKey: .freezeEncoder) ?? freezeEncoder
        clipNorm = try container.decodeIfPresent(Double.self, forKey: .clipNorm)
        dropout = try container.decodeIfPresent(Bool.self, forKey: .dropout) ?? dropout
        augment = try container.decodeIfPresent(Bool.self, forKey: .augment) ?? augment
        binEdges = try container.decodeIfPresent([Double].self, forKey: .binEdges) ?? binEdges
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        checkpointEvery = try container.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
        validateEvery = try container.decodeIfPresent(Int.self, forKey: .validateEvery) ?? validateEvery
        preciseBatchNormBatches = try container.decodeIfPresent(Int.self, forKey: .preciseBatchNormBatches) ?? preciseBatchNormBatches
        validation = try container.decodeIfPresent([String].self, forKey: .validation)
        bucketMegabytes = try container.decodeIfPresent(Double.self, forKey: .bucketMegabytes)
        synchronisedBatchNorm = try container.decodeIfPresent(Bool.self, forKey: .synchronisedBatchNorm)
        hedJitter = try container.decodeIfPresent(Double.self, forKey: .hedJitter)
    }

    /// A choice by its name, refused with the names it may have.
    private static func choice<Choice: RawRepresentable & CaseIterable & Decodable>(
        _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    )
        throws -> Choice? where Choice.RawValue == String
    {
        guard let name = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let choice = Choice(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(key.stringValue) \(name): \(Choice.choices)")
        }
        return choice
    }

    public func check() throws {
        guard CNNModel.architectures.contains(architecture) else { throw TesseraError("train", "unknown model \(architecture)", code: .notFound) }
        guard steps >= 1 else { throw TesseraError("train", "steps must be at least 1") }
        guard batch >= 2 else { throw TesseraError("train", "the batch must hold at least 2 tiles (batch statistics)") }
        guard tile >= 32, tile % 32 == 0 else { throw TesseraError("train", "the tile side must be a multiple of 32, not \(tile)") }
        guard scale >= 1 else { throw TesseraError("train", "the scale must be at least 1") }
        guard lr > 0, lr.isFinite else { throw TesseraError("train", "the learning rate must be positive") }
        guard (0..<1).contains(dropConnect) else { throw TesseraError("train", "drop-connect must be in [0, 1)") }
        guard checkpointEvery >= 1 else { throw TesseraError("train", "checkpoints every at least 1 step") }
        guard encoderScale >= 0, weightDecay >= 0, preciseBatchNormBatches >= 0, validateEvery >= 0 else {
            throw TesseraError("train", "encoder scale, weight decay, precise-BN batches and validation interval must not be negative")
        }
        guard binEdges.first == 0, zip(binEdges, binEdges.dropFirst()).allSatisfy({ $0 < $1 }), binEdges.allSatisfy({ $0 < 1 }) else {
            throw TesseraError("train", "bin edges must rise from 0 and stay below 1, not \(binEdges)")
        }
        if let clipNorm, !(clipNorm > 0) { throw TesseraError("train", "the clipping norm must be positive") }
        if let hedJitter, !(0...1).contains(hedJitter) { throw TesseraError("train", "the HED jitter's σ must be between 0 and 1") }
        if let bucketMegabytes, !(bucketMegabytes > 0 && bucketMegabytes <= 4096) {
            throw TesseraError("train", "the gradient bucket must hold more than 0 and at most 4096 MB")
        }
    }

    var learningRate: LearningRateSchedule {
        switch schedule {
        case .cosine: .cosine(maxLR: lr, warmUpSteps: warmUpSteps)
        case .onecycle: .oneCycle(maxLR: lr)
        }
    }

    /// The generators of the dropout masks of slots `slots` of step `step`'s batch, a
    /// function of the seed, the step and the slot; nil when dropout is off.
    public func dropoutRandoms(step: Int, slots: Range<Int>) -> [SplitMix64]? {
        guard dropout else { return nil }
        return slots.map { slot in
            SplitMix64(seed: SplitMix64.finalize(seed ^ 0xD1B5_4A32_D192_ED03 &* UInt64(step + 1) &+ 0x9E37_79B9 &* UInt64(slot + 1)))
        }
    }

    /// Applies the gradients in `trainer`'s store as step `step` of this run: checks that the
    /// loss and every gradient are finite, clips, and steps the optimiser at the schedule's
    /// learning rate, which it returns. Nothing changes when a value is not finite.
    func apply(to trainer: ModelTrainer, step: Int, loss: Double) throws -> Double {
        guard loss.isFinite, trainer.store.gradients.allSatisfy(\.isFinite) else {
            throw TesseraError(
                "training", "the loss became \(loss.isFinite ? "finite but a gradient did not" : String(loss)) at step \(step + 1)", code: .diverged)
        }
        if let clipNorm {
            var buffers = [trainer.store.gradients]
            clipGradientNorm(&buffers, maxNorm: clipNorm)
            trainer.store.gradients = buffers[0]
        }
        let (lr, momentum) = learningRate.values(step: step, of: steps)
        trainer.step(lr: lr, momentum: momentum, groups: groups)
        return lr
    }

    /// The trainer of a run with these settings, training the parameters in `store`.
    public func trainer(store: ParameterStore) throws -> ModelTrainer {
        try ModelTrainer(
            architecture: architecture, store: store, loss: segmentationLoss, optimizer: optimiser,
            dropConnect: dropConnect)
    }

    /// The training tiles and the held-out ones (nil when no slide is held out) of the data
    /// folder `dataFolder`, cut as these settings say.
    public func datasets(dataFolder: String) throws -> (training: TileDataset, validation: TileDataset?) {
        let (train, held) = try TrainingSet(folder: dataFolder).split(validation: validation)
        var tiles = TileDataset.Settings()
        tiles.tile = tile
        tiles.scale = scale
        tiles.augment = augment
        tiles.binEdges = binEdges
        tiles.hedJitter = hedJitter
        let training = try TileDataset(slides: train, settings: tiles, seed: seed)
        tiles.augment = false
        return (training, held.isEmpty ? nil : try TileDataset(slides: held, settings: tiles, seed: seed))
    }

    /// The parameters a run starts from: `weights` when given, deterministic ones otherwise.
    public func initialStore(weights: String?) throws -> ParameterStore {
        let store = try ParameterStore(architecture: architecture)
        if let weights {
            try store.load(from: try SafeTensorsWeights(path: weights), ignoring: try Architecture(named: architecture).unusedKeys)
        } else {
            try store.load(from: DeterministicWeights())
        }
        return store
    }

    var segmentationLoss: SegmentationLoss { loss.loss }

    var optimiser: Optimizer { optimizer.optimizer(weightDecay: weightDecay) }

    var groups: ModelTrainer.Groups {
        ModelTrainer.Groups(decayNormsAndBiases: decayNormsAndBiases, encoderScale: encoderScale, freezeEncoder: freezeEncoder)
    }
}
