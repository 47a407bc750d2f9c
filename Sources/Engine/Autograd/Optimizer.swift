import Core
import Foundation

/// The optimisers of issue 15, step for step as PyTorch's single-tensor implementations
/// (`torch.optim.SGD`, `torch.optim.AdamW`): hyper-parameters are doubles as Python's
/// floats are, scalar arithmetic (bias corrections, step size) is done in double, and each
/// tensor operation in float32 in PyTorch's order, so trained weights agree with PyTorch's.
/// Parameters, gradients and state are flat buffers; parameter groups (no weight decay on
/// norms and biases, discriminative learning rates) are separate `step` calls over their
/// own slices with their own hyper-parameters.
public enum Optimizer: Sendable, Equatable {
    /// SGD with momentum (dampening 0) and optional Nesterov; the weight decay is L2,
    /// added to the gradient.
    case sgd(momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0)
    /// AdamW: decoupled weight decay, bias-corrected moments.
    case adamW(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01)

    /// What an optimiser keeps between steps for one buffer of parameters.
    public struct State: Sendable, Equatable {
        /// Steps taken.
        public var step = 0
        /// SGD's momentum buffer, or AdamW's first moment.
        public var first: [Float]
        /// AdamW's second moment (empty for SGD).
        public var second: [Float]

        public init(count: Int, for optimizer: Optimizer) {
            first = [Float](repeating: 0, count: count)
            if case .adamW = optimizer { second = [Float](repeating: 0, count: count) } else { second = [] }
        }
    }

    /// One step at learning rate `lr` on `parameters` with `gradients`. A scheduled
    /// `momentum` (one-cycle) replaces SGD's momentum or AdamW's β1 when given.
    public func step(_ parameters: inout [Float], gradients: [Float], state: inout State, lr: Double, momentum scheduled: Double? = nil) {
        precondition(parameters.count == gradients.count && state.first.count == parameters.count, "buffers of different sizes")
        state.step += 1
        step(&parameters, gradients: gradients, state: &state, range: parameters.indices, lr: lr, momentum: scheduled, decays: true)
    }

    /// The update of step `state.step` (already counted) on `range` of flat buffers: one
    /// parameter group's share of a model's store. `decays` false turns weight decay off
    /// for the group (norms and biases).
    public func step(
        _ parameters: inout [Float], gradients: [Float], state: inout State, range: Range<Int>, lr: Double,
        momentum scheduled: Double? = nil, decays: Bool
    ) {
        precondition(state.step > 0, "count the step before updating")
        precondition(range.upperBound <= parameters.count && range.upperBound <= gradients.count, "a range outside the buffers")
        guard !range.isEmpty else { return }
        // Through pointers, so that the loops carry no bounds or uniqueness checks and
        // vectorise; each element's operations and their order are the scalar definition's.
        let step = state.step
        gradients.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { p in
                state.first.withUnsafeMutableBufferPointer { first in
                    state.second.withUnsafeMutableBufferPointer { second in
                        update(
                            p.baseAddress!, g.baseAddress!, first.baseAddress, second.baseAddress, range, step: step, lr: lr, momentum: scheduled,
                            decays: decays)
                    }
                }
            }
        }
    }

    private func update(
        _ parameters: UnsafeMutablePointer<Float>, _ gradients: UnsafePointer<Float>, _ first: UnsafeMutablePointer<Float>?,
        _ second: UnsafeMutablePointer<Float>?, _ range: Range<Int>, step: Int, lr: Double, momentum scheduled: Double?, decays: Bool
    ) {
        switch self {
        case .sgd(let momentum, let nesterov, let weightDecay):
            let momentum = Float(scheduled ?? momentum), decay = Float(decays ? weightDecay : 0), alpha = Float(-lr)
            for i in range {
                var d = gradients[i]
                if decay != 0 { d = d + decay * parameters[i] }
                if momentum != 0, let first {
                    // PyTorch starts the buffer at the first gradient.
                    first[i] = step == 1 ? d : first[i] * momentum + d
                    d = nesterov ? d + momentum * first[i] : first[i]
                }
                parameters[i] = parameters[i] + alpha * d
            }
        case .adamW(let beta1, let beta2, let epsilon, let weightDecay):
            guard let first, let second else { preconditionFailure("AdamW keeps two moments") }
            let beta1 = scheduled ?? beta1
            let t = Double(step)
            let decay = Float(1 - lr * (decays ? weightDecay : 0))
            let weight = Float(1 - beta1), keep = Float(beta2), blend = Float(1 - beta2), eps = Float(epsilon)
            let value = Float(-(lr / (1 - pow(beta1, t))))
            let correction2Root = Float((1 - pow(beta2, t)).squareRoot())
            // torch.lerp: start + weight·(end − start) while weight < 0.5.
            let complement = 1 - weight
            if weight < 0.5 {
                for i in range {
                    let m = first[i], g = gradients[i]
                    first[i] = m + weight * (g - m)
                    second[i] = second[i] * keep + blend * g * g
                    let denominator = second[i].squareRoot() / correction2Root + eps
                    parameters[i] = parameters[i] * decay + value * (first[i] / denominator)
                }
            } else {
                for i in range {
                    let m = first[i], g = gradients[i]
                    first[i] = g - (g - m) * complement
                    second[i] = second[i] * keep + blend * g * g
                    let denominator = second[i].squareRoot() / correction2Root + eps
                    parameters[i] = parameters[i] * decay + value * (first[i] / denominator)
                }
            }
        }
    }
}

/// Scales gradients so that their global 2-norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_`: the norm of the per-buffer norms, times
/// maxNorm / (norm + 1e-6) when that is below 1. Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: inout [[Float]], maxNorm: Double) -> Double {
    let norms = gradients.map { buffer in buffer.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
    let total = norms.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 {
        let scale = Float(coefficient)
        for b in gradients.indices { for i in gradients[b].indices { gradients[b][i] *= scale } }
    }
    return total
}
