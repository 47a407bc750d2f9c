import Core
import Foundation

/// One model in training: its parameters and gradients (a `ParameterStore`), the training
/// network, the loss and the optimiser with its state. `gradients` runs a forward and
/// backward pass over a batch; `step` applies the optimiser. The two are separate so that
/// data-parallel training can average the gradients in between.
public final class ModelTrainer {
    public let architecture: Architecture
    public let network: TrainingNetwork
    public let store: ParameterStore
    public var loss: SegmentationLoss
    public var optimizer: Optimizer
    public var optimizerState: Optimizer.State

    /// How parameters are grouped for the optimiser, as the seed's notebooks trained.
    public struct Groups: Sendable, Equatable {
        /// Weight decay on biases and norms' gains too (PyTorch's default; off by option).
        public var decayNormsAndBiases = true
        /// The encoder's learning rate as a fraction of the decoder's (discriminative rates).
        public var encoderScale = 1.0
        /// The encoder is not updated (fast.ai's `freeze`).
        public var freezeEncoder = false
        public init(decayNormsAndBiases: Bool = true, encoderScale: Double = 1, freezeEncoder: Bool = false) {
            self.decayNormsAndBiases = decayNormsAndBiases
            self.encoderScale = encoderScale
            self.freezeEncoder = freezeEncoder
        }
    }

    /// The trainer of the architecture called `architecture`.
    public convenience init(
        architecture: String, store: ParameterStore, loss: SegmentationLoss = .bceDice(), optimizer: Optimizer = .adamW(),
        dropConnect: Double = 0
    ) throws {
        self.init(try Architecture(named: architecture), store: store, loss: loss, optimizer: optimizer, dropConnect: dropConnect)
    }

    public init(
        _ architecture: Architecture, store: ParameterStore, loss: SegmentationLoss = .bceDice(), optimizer: Optimizer = .adamW(),
        dropConnect: Double = 0
    ) {
        self.architecture = architecture
        network = TrainingNetwork(architecture, dropConnect: dropConnect)
        // A step allocates and frees the same large maps every time: keep them in the heap
        // (as inference does) rather than paying for their pages again each step.
        HeapRetention.enableOnce()
        self.store = store
        self.loss = loss
        self.optimizer = optimizer
        optimizerState = Optimizer.State(count: store.values.count, for: optimizer)
    }

    /// Checks a batch: N images 3×H×W and N masks of H·W values, sides multiples of the
    /// network's alignment, at least two images when batch norms use batch statistics.
    /// (`synchronised`: batch statistics are summed over replicas, so one image is enough here.)
    public func check(images: [Tensor], masks: [[Float]], normalisation: Tape.Normalisation = .batch(), synchronised: Bool = false) throws {
        guard images.count == masks.count else { throw TesseraError("batch", "\(images.count) images but \(masks.count) masks", code: .mismatch) }
        guard !images.isEmpty else { throw TesseraError("batch", "an empty batch") }
        if case .batch = normalisation, images.count < 2, !synchronised {
            throw TesseraError("batch", "training with batch statistics needs at least 2 images a batch, got \(images.count)")
        }
        for (b, (image, mask)) in zip(images, masks).enumerated() {
            guard image.channels == 3 else { throw TesseraError("batch", "image \(b) has \(image.channels) channels, not 3") }
            guard image.height == images[0].height, image.width == images[0].width else {
                throw TesseraError("batch", "image \(b) is \(image.height)×\(image.width), image 0 \(images[0].height)×\(images[0].width)", code: .mismatch)
            }
            guard image.height % network.alignment == 0, image.width % network.alignment == 0, image.height > 0 else {
                throw TesseraError("batch", "sides must be multiples of \(network.alignment), got \(image.height)×\(image.width)")
            }
            guard mask.count == image.planeSize else {
                throw TesseraError("batch", "mask \(b) has \(mask.count) values for an image of \(image.height)×\(image.width)", code: .mismatch)
            }
        }
    }

    /// Wall seconds of the last `gradients` call's forward pass (with the loss) and backward
    /// pass, for benchmarks.
    public private(set) var lastPassSeconds: (forward: Double, backward: Double) = (0, 0)

    /// Zeroes the gradients, runs the forward pass, the loss and the backward pass; the
    /// parameters' gradients are then in `store.gradients`. Returns the loss and the logits.
    @discardableResult
    public func gradients(
        images: [Tensor], masks: [[Float]], normalisation: Tape.Normalisation = .batch(),
        randoms: [SplitMix64]? = nil, onGradient: ((ParameterStore.Entry) -> Void)? = nil,
        synchronisedStatistics: BatchStatisticsSum? = nil
    ) throws -> (loss: Double, logits: [Tensor]) {
        try check(images: images, masks: masks, normalisation: normalisation, synchronised: synchronisedStatistics != nil)
        store.gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        precondition(randoms.map { $0.count == images.count } ?? true, "one random generator per image")
        let tape = Tape(store: store, normalisation: normalisation, randoms: randoms)
        tape.onGradient = onGradient
        tape.synchronisedStatistics = synchronisedStatistics
        let started = DispatchTime.now().uptimeNanoseconds
        let output = network.logits(tape.input(images), on: tape)
        let (value, dLogits) = try loss.evaluate(logits: output.value.map(\.data), masks: masks)
        let logits = output.value
        let forwardEnded = DispatchTime.now().uptimeNanoseconds
        tape.backward(output, gradient: zip(logits, dLogits).map { Tensor(channels: 1, height: $0.height, width: $0.width, data: $1) })
        lastPassSeconds = (Double(forwardEnded - started) / 1e9, Double(DispatchTime.now().uptimeNanoseconds - forwardEnded) / 1e9)
        if let failure = synchronisedStatistics?.failure { throw failure }
        return (value, logits)
    }

    /// The logits of a batch without a backward pass (validation), the network in
    /// inference mode: batch norms use their running statistics.
    public func logits(images: [Tensor]) -> [Tensor] {
        let saved = store.values
        let tape = Tape(store: store, normalisation: .frozen, recordsGradients: false)
        let output = network.logits(tape.input(images), on: tape).value
        precondition(store.values == saved, "inference changed the parameters")
        return output
    }

    /// Whether `key` belongs to the encoder (EffUnet's `encoder.…`, UneXt50's `enc0…enc4`).
    public static func isEncoder(_ key: String) -> Bool { key.hasPrefix("enc") }

    /// One optimiser step at learning rate `lr` (and scheduled momentum) on every parameter,
    /// grouped as `groups` says; running statistics are left alone.
    public func step(lr: Double, momentum: Double? = nil, groups: Groups = Groups()) {
        optimizerState.step += 1
        for entry in store.entries where entry.isParameter {
            let encoder = Self.isEncoder(entry.key)
            if encoder && groups.freezeEncoder { continue }
            optimizer.step(
                &store.values, gradients: store.gradients, state: &optimizerState, range: entry.range,
                lr: encoder ? lr * groups.encoderScale : lr, momentum: momentum,
                decays: entry.decays || groups.decayNormsAndBiases)
        }
    }
}
