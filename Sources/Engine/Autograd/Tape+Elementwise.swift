import Core
import Foundation

/// Value-by-value and per-channel operations on the tape: activations, sums, the
/// squeeze-excitation gate and the seeded random zeroing. Images run in parallel.
extension Tape {
    /// ReLU, swish or sigmoid.
    public func activation(_ x: Variable, _ activation: Activation) -> Variable {
        let xHandle = x.handle
        let y = Self.mapImages(x.value) { activation.applied(to: $0) }
        let inputs = x.value
        return record(y) { [unowned self] dy in
            accumulate(
                xHandle,
                Self.mapImages(dy.indices.map { $0 }) { b in
                    Tensor(
                        channels: dy[b].channels, height: dy[b].height, width: dy[b].width,
                        data: activation.backward(dy[b].data, input: inputs[b].data, output: y[b].data))
                })
        }
    }

    /// a + b (a residual).
    public func add(_ a: Variable, _ b: Variable) -> Variable {
        let aHandle = a.handle
        let bHandle = b.handle
        var y = a.value
        for i in y.indices { y[i] += b.value[i] }
        return record(y) { [unowned self] dy in
            accumulate(aHandle, dy)
            accumulate(bHandle, dy)
        }
    }

    /// Each channel of each image's x times that image's `gates` value for the channel
    /// (gates C×1×1): squeeze-excitation's x · σ(…).
    public func scaleChannels(_ x: Variable, by gates: Variable) -> Variable {
        let xHandle = x.handle
        let gatesHandle = gates.handle
        let y = Self.mapImages(x.value.indices.map { $0 }) { b in ChannelOps.scale(x.value[b], by: gates.value[b].data) }
        let inputs = x.value, scales = gates.value
        return record(y) { [unowned self] dy in
            let parts = Self.mapImages(dy.indices.map { $0 }) { b in ChannelOps.scaleBackward(dy[b], input: inputs[b], scale: scales[b].data) }
            accumulate(xHandle, parts.map(\.input))
            accumulate(gatesHandle, parts.map { Tensor(channels: $0.scale.count, height: 1, width: 1, data: $0.scale) })
        }
    }

    /// `adaptive_avg_pool2d(x, 1)`: C×1×1 per image.
    public func globalAverage(_ x: Variable) -> Variable {
        let xHandle = x.handle
        let y = x.value.map { Tensor(channels: $0.channels, height: 1, width: 1, data: ChannelOps.globalAverage($0)) }
        let (height, width) = (x.value[0].height, x.value[0].width)
        return record(y) { [unowned self] dy in
            accumulate(xHandle, dy.map { ChannelOps.globalAverageBackward($0.data, height: height, width: width) })
        }
    }

    /// `nn.Dropout2d(p)` in training when the tape has random sources; otherwise x.
    public func dropout2d(_ x: Variable, probability p: Double) -> Variable {
        let xHandle = x.handle
        guard p > 0, randoms != nil else { return x }
        let channels = x.value[0].channels
        let factors = x.value.indices.flatMap { b in Dropout.channelFactors(images: 1, channels: channels, probability: p, random: &randoms![b]) }
        let scale = { (maps: [Tensor]) in
            maps.indices.map { b in ChannelOps.scale(maps[b], by: Array(factors[(b * channels)..<((b + 1) * channels)])) }
        }
        return record(scale(x.value)) { [unowned self] dy in accumulate(xHandle, scale(dy)) }
    }

    /// efficientnet_pytorch's drop-connect of a residual branch: each image's x kept with
    /// probability 1 − p and divided by it, when the tape has random sources.
    public func dropConnect(_ x: Variable, probability p: Double) -> Variable {
        let xHandle = x.handle
        guard p > 0, randoms != nil else { return x }
        let factors = x.value.indices.flatMap { b in Dropout.imageFactors(images: 1, probability: p, random: &randoms![b]) }
        let scale = { (maps: [Tensor]) in
            maps.indices.map { b in ChannelOps.scale(maps[b], by: [Float](repeating: factors[b], count: maps[b].channels)) }
        }
        return record(scale(x.value)) { [unowned self] dy in accumulate(xHandle, scale(dy)) }
    }

    /// `transform` of each element, on the engine's threads, in order.
    static func mapImages<T, R>(_ items: [T], _ transform: (T) -> R) -> [R] {
        var results = [R?](repeating: nil, count: items.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let target = DisjointPointer(buffer.baseAddress!)
            Parallel.forEach(items.count) { i in target.base[i] = transform(items[i]) }
        }
        return results.map { $0! }
    }
}
