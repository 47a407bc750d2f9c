import Core
import Foundation

/// Batch normalisation in training mode over a batch of C×H×W maps, forward and backward
/// by hand, as PyTorch's CPU kernels compute them: per-channel statistics over the batch
/// and the plane reduced in double precision (each image's plane by `DoubleSum`), y = (x − μ)·γ/√(σ² + eps) + β with the biased
/// variance, and the running statistics updated with the unbiased one:
/// r ← (1 − momentum)·r + momentum·statistic (EfficientNet: momentum 0.01, eps 1e-3;
/// torchvision and fast.ai: 0.1, 1e-5). Frozen, it normalises with the running statistics
/// and only γ and β train. Channels run in parallel, each reduced in a fixed order.
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
        var mean = [Double](repeating: 0, count: channels), inverse = mean, unbiased = mean
        var outputs = inputs.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        let eps = Double(layer.eps), gamma = layer.weight, beta = layer.bias
        withChannels(inputs, &outputs) { sources, targets in
            mean.withUnsafeMutableBufferPointer { meanBuffer in
                inverse.withUnsafeMutableBufferPointer { inverseBuffer in
                    unbiased.withUnsafeMutableBufferPointer { unbiasedBuffer in
                        let means = DisjointPointer(meanBuffer.baseAddress!), inverses = DisjointPointer(inverseBuffer.baseAddress!)
                        let variances = DisjointPointer(unbiasedBuffer.baseAddress!)
                        Parallel.forEach(channels) { c in
                            var sum = 0.0
                            for x in sources {
                                let row = x + c * plane
                                sum += DoubleSum.sum(plane) { Double(row[$0]) }
                            }
                            let mu = sum / count
                            var squares = 0.0
                            for x in sources {
                                let row = x + c * plane
                                squares += DoubleSum.sum(plane) { i in
                                    let d = Double(row[i]) - mu
                                    return d * d
                                }
                            }
                            let invstd = 1 / (squares / count + eps).squareRoot()
                            means.base[c] = mu
                            inverses.base[c] = invstd
                            variances.base[c] = count > 1 ? squares / (count - 1) : squares / count
                            let scale = Float(invstd * Double(gamma[c])), shift = Float(Double(beta[c]) - mu * invstd * Double(gamma[c]))
                            for (x, y) in zip(sources, targets) { for i in 0..<plane { y.base[c * plane + i] = x[c * plane + i] * scale + shift } }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            layer.runningMean[c] = Float((1 - momentum) * Double(layer.runningMean[c]) + momentum * mean[c])
            layer.runningVar[c] = Float((1 - momentum) * Double(layer.runningVar[c]) + momentum * unbiased[c])
        }
        return (outputs, Saved(mean: mean, inverseDeviation: inverse, inputs: inputs))
    }

    /// Normalises `inputs` with the statistics of the global batch that `replicas` sum
    /// (synchronised batch norm): per channel, the sum and count of every replica's values
    /// give the mean, then the sum of squared deviations from it the variance; running
    /// statistics as `forward`'s.
    public static func forward(
        _ inputs: [Tensor], layer: inout BatchNorm, momentum: Double,
        replicas: BatchStatisticsSum
    ) -> (outputs: [Tensor], saved: Saved) {
        precondition(!inputs.isEmpty && inputs.allSatisfy { $0.channels == layer.weight.count }, "a batch of the layer's channels")
        let channels = layer.weight.count, plane = inputs[0].planeSize
        let sums = replicas(channelSums(inputs, channels: channels) { x, _ in x } + [Double(inputs.count * plane)])
        let count = max(1, sums[channels])
        let mean = sums.prefix(channels).map { $0 / count }
        let squares = replicas(channelSums(inputs, channels: channels) { x, c in (x - mean[c]) * (x - mean[c]) })
        let eps = Double(layer.eps)
        let inverse = squares.map { 1 / ($0 / count + eps).squareRoot() }
        let unbiased = squares.map { count > 1 ? $0 / (count - 1) : $0 / count }
        var outputs = inputs.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        let gamma = layer.weight, beta = layer.bias
        withChannels(inputs, &outputs) { sources, targets in
            Parallel.forEach(channels) { c in
                let scale = Float(inverse[c] * Double(gamma[c])), shift = Float(Double(beta[c]) - mean[c] * inverse[c] * Double(gamma[c]))
                for (x, y) in zip(sources, targets) { for i in 0..<plane { y.base[c * plane + i] = x[c * plane + i] * scale + shift } }
            }
        }
        for c in 0..<channels {
            layer.runningMean[c] = Float((1 - momentum) * Double(layer.runningMean[c]) + momentum * mean[c])
            layer.runningVar[c] = Float((1 - momentum) * Double(layer.runningVar[c]) + momentum * unbiased[c])
        }
        return (outputs, Saved(mean: mean, inverseDeviation: inverse, inputs: inputs))
    }

    /// Per channel, Σ f(x, c) over the batch and the plane, in double precision.
    private static func channelSums(_ inputs: [Tensor], channels: Int, _ f: @escaping (Double, Int) -> Double) -> [Double] {
        let plane = inputs[0].planeSize
        var sums = [Double](repeating: 0, count: channels)
        withChannels(inputs) { sources in
            sums.withUnsafeMutableBufferPointer { buffer in
                let target = DisjointPointer(buffer.baseAddress!)
                Parallel.forEach(channels) { c in
                    var sum = 0.0
                    for x in sources {
                        let row = x + c * plane
                        sum += DoubleSum.sum(plane) { f(Double(row[$0]), c) }
                    }
                    target.base[c] = sum
                }
            }
        }
        return sums
    }

    /// The synchronised layer's gradients. Each replica's loss is weighted by its share w of
    /// the global batch, so the global reductions sum w·Σdy and w·Σdy·x̂; in this replica's
    /// own units (its gradients are scaled by w afterwards) dx = γ·invstd·(dy − S/(w·M) −
    /// x̂·D/(w·M)), with S, D the summed reductions and M the global count. dγ and dβ stay
    /// this replica's own: summed over replicas with their weights, they are the global ones.
    public static func backward(
        _ gradients: [Tensor], saved: Saved, weight: [Float],
        replicas: BatchStatisticsSum
    ) -> (inputs: [Tensor], weight: [Float], bias: [Float]) {
        let channels = weight.count, plane = saved.inputs[0].planeSize
        let sources = gradients
        var local = [Double](repeating: 0, count: 2 * channels + 1)
        withChannels(saved.inputs) { inputs in
            withChannels(sources) { dys in
                local.withUnsafeMutableBufferPointer { buffer in
                    let target = DisjointPointer(buffer.baseAddress!)
                    Parallel.forEach(channels) { c in
                        let mu = saved.mean[c]
                        var sumDy = 0.0, dot = 0.0
                        for (x, dy) in zip(inputs, dys) {
                            let (s, d) = Self.gradientSums(x + c * plane, dy + c * plane, count: plane, mean: mu)
                            sumDy += s
                            dot += d
                        }
                        target.base[c] = sumDy
                        target.base[channels + c] = dot
                    }
                }
            }
        }
        let w = replicas.shareWeight
        local[2 * channels] = Double(saved.inputs.count * plane)
        let global = replicas(local.enumerated().map { $0.offset < 2 * channels ? $0.element * w : $0.element })
        let scaledCount = w * max(1, global[2 * channels])
        var dInputs = gradients.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        withChannels(saved.inputs, &dInputs) { inputs, targets in
            withChannels(sources) { dys in
                Parallel.forEach(channels) { c in
                    let mu = saved.mean[c], invstd = saved.inverseDeviation[c], scale = invstd * Double(weight[c])
                    let meanDy = global[c] / scaledCount, k = global[channels + c] * invstd * invstd / scaledCount
                    for (b, (dy, dx)) in zip(dys, targets).enumerated() {
                        let x = inputs[b]
                        for i in 0..<plane {
                            dx.base[c * plane + i] = Float((Double(dy[c * plane + i]) - meanDy - (Double(x[c * plane + i]) - mu) * k) * scale)
                        }
                    }
                }
            }
        }
        let dBias = (0..<channels).map { Float(local[$0]) }
        let dWeight = (0..<channels).map { Float(local[channels + $0] * saved.inverseDeviation[$0]) }
        return (dInputs, dWeight, dBias)
    }

    /// Σdy and Σ(x − μ)·dy over one plane, in double (`DoubleSum`).
    @inline(__always)
    private static func gradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count: Int, mean: Double) -> (Double, Double) {
        DoubleSum.sums(count) { i in
            let g = Double(dy[i])
            return (g, (Double(x[i]) - mean) * g)
        }
    }

    /// Gradients of the inputs, γ and β from the outputs' gradients:
    /// dβ = Σdy, dγ = Σdy·x̂, dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
    public static func backward(_ gradients: [Tensor], saved: Saved, weight: [Float]) -> (inputs: [Tensor], weight: [Float], bias: [Float]) {
        backward(gradients, saved: saved, weight: weight, frozen: false)
    }

    /// Normalises with the layer's running statistics (`model.eval()` for this layer).
    public static func frozenForward(_ inputs: [Tensor], layer: BatchNorm) -> (outputs: [Tensor], saved: Saved) {
        let mean = layer.runningMean.map(Double.init)
        let inverse = layer.runningVar.map { 1 / (Double($0) + Double(layer.eps)).squareRoot() }
        let plane = inputs[0].planeSize
        var outputs = inputs.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        let (scale, shift) = layer.scaleAndShift
        withChannels(inputs, &outputs) { sources, targets in
            Parallel.forEach(layer.weight.count) { c in
                for (x, y) in zip(sources, targets) { for i in 0..<plane { y.base[c * plane + i] = x[c * plane + i] * scale[c] + shift[c] } }
            }
        }
        return (outputs, Saved(mean: mean, inverseDeviation: inverse, inputs: inputs))
    }

    /// The frozen layer's gradients: dx = dy·γ·invstd, and dγ, dβ as in training.
    public static func frozenBackward(_ gradients: [Tensor], saved: Saved, weight: [Float]) -> (inputs: [Tensor], weight: [Float], bias: [Float]) {
        backward(gradients, saved: saved, weight: weight, frozen: true)
    }

    private static func backward(
        _ gradients: [Tensor], saved: Saved, weight: [Float], frozen: Bool
    )
        -> (inputs: [Tensor], weight: [Float], bias: [Float])
    {
        let channels = weight.count, plane = saved.inputs[0].planeSize
        let count = Double(saved.inputs.count * plane)
        var dInputs = gradients.map { Tensor(uninitializedChannels: $0.channels, height: $0.height, width: $0.width) }
        var dWeight = [Float](repeating: 0, count: channels), dBias = dWeight
        let sources = gradients
        withChannels(saved.inputs, &dInputs) { inputs, targets in
            withChannels(sources) { dys in
                dWeight.withUnsafeMutableBufferPointer { weightBuffer in
                    dBias.withUnsafeMutableBufferPointer { biasBuffer in
                        let dW = DisjointPointer(weightBuffer.baseAddress!), dB = DisjointPointer(biasBuffer.baseAddress!)
                        Parallel.forEach(channels) { c in
                            let mu = saved.mean[c], invstd = saved.inverseDeviation[c]
                            var sumDy = 0.0, dot = 0.0
                            for (x, dy) in zip(inputs, dys) {
                                let (s, d) = Self.gradientSums(x + c * plane, dy + c * plane, count: plane, mean: mu)
                                sumDy += s
                                dot += d
                            }
                            dB.base[c] = Float(sumDy)
                            dW.base[c] = Float(dot * invstd)
                            let scale = invstd * Double(weight[c])
                            if frozen {
                                let factor = Float(scale)
                                for (dy, dx) in zip(dys, targets) { for i in 0..<plane { dx.base[c * plane + i] = dy[c * plane + i] * factor } }
                                return
                            }
                            let meanDy = sumDy / count, k = dot * invstd * invstd / count
                            for (b, (dy, dx)) in zip(dys, targets).enumerated() {
                                let x = inputs[b]
                                for i in 0..<plane {
                                    dx.base[c * plane + i] = Float((Double(dy[c * plane + i]) - meanDy - (Double(x[c * plane + i]) - mu) * k) * scale)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dInputs, dWeight, dBias)
    }
}

/// Raw pointers to each image's values, for kernels that split a batch by channel across
/// threads (each thread writes only its own channels).
func withChannels<R>(
    _ inputs: [Tensor], _ outputs: inout [Tensor],
    _ body: (_ inputs: [UnsafePointer<Float>], _ outputs: [DisjointPointer<Float>]) -> R
) -> R {
    withChannels(inputs) { sources in
        var targets: [DisjointPointer<Float>] = []
        for b in outputs.indices {
            outputs[b].data.withUnsafeMutableBufferPointer { targets.append(DisjointPointer($0.baseAddress!)) }
        }
        // The pointers stay valid: nothing resizes or copies `outputs` while `body` runs.
        return withExtendedLifetime(outputs) { body(sources, targets) }
    }
}

/// Raw pointers to each image's values (read only).
func withChannels<R>(_ inputs: [Tensor], _ body: (_ inputs: [UnsafePointer<Float>]) -> R) -> R {
    var sources: [UnsafePointer<Float>] = []
    for x in inputs { x.data.withUnsafeBufferPointer { sources.append($0.baseAddress!) } }
    return withExtendedLifetime(inputs) { body(sources) }
}
