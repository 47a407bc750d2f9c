import Core
import Foundation

/// A batch flowing through a training forward pass: one tensor per image, and its place on
/// the tape that will take its gradient.
public struct Variable: Sendable {
    public let id: Int
    public let value: [Tensor]
    /// Whether anything trainable lies upstream (the input images need no gradient, so the
    /// first convolution skips its input's).
    public let needsGradient: Bool

    /// The same place on the tape without the values: what a backward closure keeps of its
    /// inputs, so that their values are freed unless the backward needs them.
    var handle: Variable { Variable(id: id, value: [], needsGradient: needsGradient) }
}

/// Reverse-mode differentiation of a training forward pass, one hand-written backward per
/// layer (as llm.c's and MLX's per-primitive VJPs): each operation records a closure that
/// maps its output's gradient to its inputs' and adds its parameters' gradients into the
/// `ParameterStore`. A closure keeps exactly what its backward needs, so activations nobody
/// needs are freed as the forward goes on, and each one is released as soon as the backward
/// has passed it. Closures run in the reverse of recording order and every sum has a fixed
/// order, so gradients are the same bits whatever the thread count.
public final class Tape {
    /// How batch norms behave.
    public enum Normalisation: Sendable, Equatable {
        /// Batch statistics, running statistics updated with each layer's momentum (or,
        /// when given, this one: precise-BN recalibration uses 1/(k + 1) for batch k).
        case batch(momentum: Double? = nil)
        /// Running statistics, as at inference; γ and β still train.
        case frozen
    }

    public let store: ParameterStore
    public let normalisation: Normalisation
    /// One generator per image of the batch, which zero that image's channels (Dropout2d)
    /// and residual branches (drop-connect) in layer order; nil turns both off. Per image,
    /// so that an image's masks do not depend on which others share its batch (the shares
    /// of a data-parallel step draw what one process would).
    public var randoms: [SplitMix64]?
    /// With batch statistics: sums them over the replicas of a data-parallel step
    /// (synchronised batch norm); nil normalises with this batch's own.
    public var synchronisedStatistics: BatchStatisticsSum?
    /// Whether backward closures are kept (false: a forward pass only, as validation runs).
    public let recordsGradients: Bool
    /// Told of each parameter as soon as the backward pass has added its gradient: the seed's
    /// networks use each parameter once, so its gradient is then final (data-parallel
    /// training starts summing buckets of them while the backward pass goes on).
    public var onGradient: ((ParameterStore.Entry) -> Void)?
    private var backwards: [(([Tensor]) -> Void)?] = []
    private var gradients: [[Tensor]?] = []

    public init(store: ParameterStore, normalisation: Normalisation = .batch(), randoms: [SplitMix64]? = nil, recordsGradients: Bool = true) {
        self.store = store
        self.recordsGradients = recordsGradients
        self.normalisation = normalisation
        self.randoms = randoms
    }

    /// The batch a pass starts from; it takes no gradient.
    public func input(_ images: [Tensor]) -> Variable {
        precondition(!images.isEmpty, "an empty batch")
        return record(images, needsGradient: false) { _ in }
    }

    /// Adds `outputs` to the tape with the closure that takes their gradient to the inputs'.
    func record(_ outputs: [Tensor], needsGradient: Bool = true, backward: @escaping ([Tensor]) -> Void) -> Variable {
        let needsGradient = needsGradient && recordsGradients
        backwards.append(needsGradient ? backward : nil)
        gradients.append(nil)
        return Variable(id: backwards.count - 1, value: outputs, needsGradient: needsGradient)
    }

    /// Adds `gradient` to what `variable` has received so far.
    func accumulate(_ variable: Variable, _ gradient: [Tensor]) {
        guard variable.needsGradient else { return }
        guard var sum = gradients[variable.id] else {
            gradients[variable.id] = gradient
            return
        }
        gradients[variable.id] = nil
        for b in sum.indices { sum[b] += gradient[b] }
        gradients[variable.id] = sum
    }

    /// Runs the backward pass from `output`'s gradient, adding every parameter's gradient
    /// into the store's `gradients`. The tape is spent afterwards.
    public func backward(_ output: Variable, gradient: [Tensor]) {
        accumulate(output, gradient)
        for id in stride(from: output.id, through: 0, by: -1) {
            let backward = backwards[id]
            backwards[id] = nil
            guard let gradient = gradients[id] else { continue }
            gradients[id] = nil
            backward?(gradient)
        }
        backwards.removeAll()
        gradients.removeAll()
    }

    // MARK: Parameters

    /// The values of parameter `key`.
    func parameter(_ key: String) -> [Float] {
        guard let entry = store.entry(key) else { preconditionFailure("the store has no \(key)") }
        return Array(store.values[entry.range])
    }

    /// Adds `gradient` into parameter `key`'s gradient.
    func addGradient(_ key: String, _ gradient: [Float]) {
        guard let entry = store.entry(key) else { preconditionFailure("the store has no \(key)") }
        precondition(entry.range.count == gradient.count, "\(key): \(gradient.count) gradient values for \(entry.range.count)")
        store.gradients.withUnsafeMutableBufferPointer { g in
            for (i, value) in zip(entry.range, gradient) { g[i] += value }
        }
        onGradient?(entry)
    }

    /// Replaces the values of buffer `key` (running statistics).
    func setBuffer(_ key: String, _ values: [Float]) {
        guard let entry = store.entry(key) else { preconditionFailure("the store has no \(key)") }
        store.values.replaceSubrange(entry.range, with: values)
    }
}
