import Core

/// Inference batch normalisation: y = (x − mean) / √(var + eps) · γ + β, per channel.
///
/// Tessera folds it into the preceding convolution at load time (`Conv2d.fold`); standing
/// alone (fastai's UnetBlock normalises a skip connection) it runs as a per-channel scale
/// and shift.
public struct BatchNorm: Sendable {
    public var weight: [Float]
    public var bias: [Float]
    public var runningMean: [Float]
    public var runningVar: [Float]
    public var eps: Float

    public init(channels: Int, eps: Float = 1e-5) {
        weight = Array(repeating: 1, count: channels)
        bias = Array(repeating: 0, count: channels)
        runningMean = Array(repeating: 0, count: channels)
        runningVar = Array(repeating: 1, count: channels)
        self.eps = eps
    }

    /// Per-channel (scale, shift) so that y = scale · x + shift.
    public var scaleAndShift: (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: weight.count), shift = scale
        for c in weight.indices {
            // Computed in Double as PyTorch's fused kernels keep enough precision here.
            let s = Double(weight[c]) / (Double(runningVar[c]) + Double(eps)).squareRoot()
            scale[c] = Float(s)
            shift[c] = Float(Double(bias[c]) - Double(runningMean[c]) * s)
        }
        return (scale, shift)
    }

    /// Applies the normalisation, then `activation`.
    public func callAsFunction(_ x: Tensor, activation: Activation = .identity) -> Tensor {
        var out = Tensor(uninitializedChannels: x.channels, height: x.height, width: x.width)
        self(x, activation: activation, into: &out, channelOffset: 0)
        return out
    }

    /// The normalisation and `activation`, written to out's channels from `channelOffset`
    /// on (a part of a concatenation).
    public func callAsFunction(_ x: Tensor, activation: Activation = .identity, into out: inout Tensor, channelOffset: Int) {
        precondition(x.height == out.height && x.width == out.width, "concatenated maps differ in size")
        let (scale, shift) = scaleAndShift
        let plane = x.planeSize
        Tensor.forEachChannel(from: x, into: &out, channelOffset: channelOffset) { c, from, to in
            let s = scale[c], t = shift[c]
            for i in 0..<plane { to[i] = from[i] * s + t }
            activation.apply(to, count: plane)
        }
    }
}
