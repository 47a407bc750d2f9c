import Core
import Foundation

/// Batch normalisation in training mode over a batch of C×H×W maps, forward and backward
/// by hand, as PyTorch's CPU kernels compute them: per-channel statistics over the batch
/// and the plane reduced in double precision, y = (x − μ)·γ/√(σ² + eps) + β with the biased
/// variance, and the running statistics updated with the unbiased one:
/// r ← (1 − momentum)·r + momentum·statistic (EfficientNet: momentum 0.01, eps 1e-3;
/// torchvision and fast.ai: 0.1, 1e-5).
public enum BatchNormTraining {
    /// What the backward pass needs of a forward one.
    public struct Saved: Sendable {
        public let mean: [Double]
        /// 1/√(σ² + eps) per channel.
        public let inverseDeviation: [Double]
        /// The inputs.
        public let inputs: [Tensor]
    }

    /// Normalises `inputs` with their batch statistics and updates `layer`'s running ones.
    public static func forward(_ inputs: [Tensor], layer: inout BatchNorm, momentum: Double) -> (outputs: [Tensor], saved: Saved) {
        precondition(!inputs.isEmpty && inputs.allSatisfy { $0.channels == layer.weight.count }, "a batch of the layer's channels")
        let channels = layer.weight.count, plane = inputs[0].planeSize
        let count = Double(inputs.count * plane)
        var mean = [Double](repeating: 0, count: channels), inverse = mean
        var outputs = inputs.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        for c in 0..<channels {
            var sum = 0.0
            for x in inputs { for i in 0..<plane { sum += Double(x.data[c * plane + i]) } }
            let mu = sum / count
            var squares = 0.0
            for x in inputs { for i in 0..<plane { let d = Double(x.data[c * plane + i]) - mu; squares += d * d } }
            let variance = squares / count
            let invstd = 1 / (variance + Double(layer.eps)).squareRoot()
            mean[c] = mu
            inverse[c] = invstd
            let scale = Float(invstd * Double(layer.weight[c])), shift = Float(Double(layer.bias[c]) - mu * invstd * Double(layer.weight[c]))
            for b in inputs.indices { for i in 0..<plane { outputs[b].data[c * plane + i] = inputs[b].data[c * plane + i] * scale + shift } }
            let unbiased = count > 1 ? squares / (count - 1) : variance
            layer.runningMean[c] = Float((1 - momentum) * Double(layer.runningMean[c]) + momentum * mu)
            layer.runningVar[c] = Float((1 - momentum) * Double(layer.runningVar[c]) + momentum * unbiased)
        }
        return (outputs, Saved(mean: mean, inverseDeviation: inverse, inputs: inputs))
    }

    /// Gradients of the inputs, γ and β from the outputs' gradients:
    /// dβ = Σdy, dγ = Σdy·x̂, dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
    public static func backward(_ gradients: [Tensor], saved: Saved, weight: [Float]) -> (inputs: [Tensor], weight: [Float], bias: [Float]) {
        let channels = weight.count, plane = saved.inputs[0].planeSize
        let count = Double(saved.inputs.count * plane)
        var dInputs = gradients.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        var dWeight = [Float](repeating: 0, count: channels), dBias = dWeight
        for c in 0..<channels {
            let mu = saved.mean[c], invstd = saved.inverseDeviation[c]
            var sumDy = 0.0, dot = 0.0
            for (x, dy) in zip(saved.inputs, gradients) {
                for i in 0..<plane {
                    let g = Double(dy.data[c * plane + i])
                    sumDy += g
                    dot += (Double(x.data[c * plane + i]) - mu) * g
                }
            }
            dBias[c] = Float(sumDy)
            dWeight[c] = Float(dot * invstd)
            let meanDy = sumDy / count, k = dot * invstd * invstd / count, scale = invstd * Double(weight[c])
            for b in gradients.indices {
                for i in 0..<plane {
                    let x = Double(saved.inputs[b].data[c * plane + i]), dy = Double(gradients[b].data[c * plane + i])
                    dInputs[b].data[c * plane + i] = Float((dy - meanDy - (x - mu) * k) * scale)
                }
            }
        }
        return (dInputs, dWeight, dBias)
    }
}
