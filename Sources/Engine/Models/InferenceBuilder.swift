import Core

/// A map in an inference pass, or one whose last step is deferred to where it is used: a
/// resampling or a stand-alone batch norm feeding a concatenation is written straight into
/// its place there instead of into a map of its own.
public enum InferenceValue {
    case tensor(Tensor)
    case bilinear(Tensor, height: Int, width: Int, alignCorners: Bool)
    case shuffled(Tensor, factor: Int)
    case normalised(Tensor, BatchNorm, Activation)

    /// The map itself.
    public var tensor: Tensor {
        switch self {
        case .tensor(let x): x
        case .bilinear(let x, let height, let width, let alignCorners): Resampling.bilinear(x, height: height, width: width, alignCorners: alignCorners)
        case .shuffled(let x, let factor): Resampling.pixelShuffle(x, factor: factor)
        case .normalised(let x, let norm, let activation): norm(x, activation: activation)
        }
    }

    var shape: (channels: Int, height: Int, width: Int) {
        switch self {
        case .tensor(let x), .normalised(let x, _, _): (x.channels, x.height, x.width)
        case .bilinear(let x, let height, let width, _): (x.channels, height, width)
        case .shuffled(let x, let factor): (x.channels / (factor * factor), x.height * factor, x.width * factor)
        }
    }

    /// Writes the map into out's channels from `channelOffset` on.
    func write(into out: inout Tensor, channelOffset: Int) {
        switch self {
        case .tensor(let x): Tensor.copyChannels(from: x, into: &out, channelOffset: channelOffset)
        case .bilinear(let x, _, _, let alignCorners): Resampling.bilinear(x, alignCorners: alignCorners, into: &out, channelOffset: channelOffset)
        case .shuffled(let x, let factor): Resampling.pixelShuffle(x, factor: factor, into: &out, channelOffset: channelOffset)
        case .normalised(let x, let norm, let activation): norm(x, activation: activation, into: &out, channelOffset: channelOffset)
        }
    }
}

/// Runs a network definition on one tile through layers prepared once from its weights:
/// batch norms folded into the convolutions before them, weight norms into their weights,
/// activations, channel gates and residuals applied as each block of output is computed
/// (see `Conv2d`).
public final class InferenceBuilder: NetworkBuilder {
    private var convs: [String: Conv2d] = [:]
    private var norms: [String: BatchNorm] = [:]

    /// The layers `layers` (a `ShapeTrace`) lists, their parameters taken from `weights`.
    public init(layers: [ShapeTrace.Layer], weights: WeightSource) throws {
        for layer in layers {
            switch layer {
            case .conv(let unit, let residual): convs[unit.key] = try Self.conv(unit, residual: residual, weights: weights)
            case .norm(let norm, let channels): norms[norm.key] = try Self.batchNorm(norm, channels: channels, weights: weights)
            }
        }
    }

    /// A convolution unit as one layer; the activation of a unit with a residual comes
    /// after the residual, so the layer itself stays linear.
    static func conv(_ unit: ConvUnit, residual: Bool, weights: WeightSource) throws -> Conv2d {
        let s = unit.shape
        let conv = Conv2d(
            inChannels: s.inputChannels, outChannels: s.outputChannels, kernel: s.kernel, stride: s.stride,
            padding: .init(top: s.padTop, left: s.padLeft, bottom: s.padBottom, right: s.padRight), dilation: s.dilation, groups: s.groups,
            activation: residual ? .identity : unit.activation)
        if unit.weightNorm {
            conv.weight = weightNorm(
                g: try weights.take(unit.key + ".weight_g", shape: [s.outputChannels, 1, 1, 1]),
                v: try weights.take(unit.key + ".weight_v", shape: unit.weightShape))
        } else {
            conv.weight = try weights.take(unit.key + ".weight", shape: unit.weightShape)
        }
        if unit.bias { conv.bias = try weights.take(unit.key + ".bias", shape: [s.outputChannels]) }
        if let norm = unit.norm { conv.fold(try batchNorm(norm, channels: s.outputChannels, weights: weights)) }
        return conv
    }

    /// `torch.nn.utils.weight_norm` (dim 0): w = g · v / ‖v‖ per output channel, in Double.
    static func weightNorm(g: [Float], v: [Float]) -> [Float] {
        let perOutput = v.count / g.count
        var weight = v
        for o in g.indices {
            var norm: Double = 0
            for i in 0..<perOutput { norm += Double(v[o * perOutput + i]) * Double(v[o * perOutput + i]) }
            let scale = Double(g[o]) / norm.squareRoot()
            for i in 0..<perOutput { weight[o * perOutput + i] = Float(Double(v[o * perOutput + i]) * scale) }
        }
        return weight
    }

    static func batchNorm(_ unit: NormUnit, channels: Int, weights: WeightSource) throws -> BatchNorm {
        var norm = BatchNorm(channels: channels, eps: unit.eps)
        norm.weight = try weights.take(unit.key + ".weight", shape: [channels])
        norm.bias = try weights.take(unit.key + ".bias", shape: [channels])
        norm.runningMean = try weights.take(unit.key + ".running_mean", shape: [channels])
        norm.runningVar = try weights.take(unit.key + ".running_var", shape: [channels])
        return norm
    }

    private func layer(_ unit: ConvUnit) -> Conv2d {
        guard let conv = convs[unit.key] else { preconditionFailure("\(unit.key) was not in the network's trace") }
        return conv
    }

    // MARK: NetworkBuilder

    public func shape(of x: InferenceValue) -> (channels: Int, height: Int, width: Int) { x.shape }

    public func conv(_ x: InferenceValue, _ unit: ConvUnit, gates: InferenceValue?, residual: Residual<InferenceValue>?) -> InferenceValue {
        let conv = layer(unit), input = x.tensor, scale = gates.map(\.tensor.data)
        if let residual { return .tensor(conv(input, inputScale: scale, adding: residual.value.tensor, then: unit.activation)) }
        if let scale { return .tensor(conv(input, inputScale: scale)) }
        return .tensor(conv(input))
    }

    public func convWithChannelMeans(_ x: InferenceValue, _ unit: ConvUnit) -> (output: InferenceValue, means: InferenceValue) {
        let (output, means) = layer(unit).depthwiseWithMeans(x.tensor)
        return (.tensor(output), .tensor(Tensor(channels: output.channels, height: 1, width: 1, data: means)))
    }

    public func batchNorm(_ x: InferenceValue, _ norm: NormUnit, activation: Activation) -> InferenceValue {
        guard let layer = norms[norm.key] else { preconditionFailure("\(norm.key) was not in the network's trace") }
        return .normalised(x.tensor, layer, activation)
    }

    public func globalMax(_ x: InferenceValue) -> InferenceValue {
        let input = x.tensor
        return .tensor(Tensor(channels: input.channels, height: 1, width: 1, data: Pooling.globalMax(input)))
    }

    public func maxPool(_ x: InferenceValue, kernel: Int, stride: Int, padding: Int) -> InferenceValue {
        .tensor(Pooling.max(x.tensor, kernel: kernel, stride: stride, padding: padding))
    }

    public func bilinear(_ x: InferenceValue, height: Int, width: Int, alignCorners: Bool) -> InferenceValue {
        .bilinear(x.tensor, height: height, width: width, alignCorners: alignCorners)
    }

    public func pixelShuffle(_ x: InferenceValue, factor: Int) -> InferenceValue { .shuffled(x.tensor, factor: factor) }

    public func concatenate(_ parts: [InferenceValue]) -> InferenceValue {
        let shapes = parts.map(\.shape)
        precondition(shapes.allSatisfy { $0.height == shapes[0].height && $0.width == shapes[0].width }, "concatenated maps differ in size")
        var joined = Tensor(uninitializedChannels: shapes.reduce(0) { $0 + $1.channels }, height: shapes[0].height, width: shapes[0].width)
        var offset = 0
        for (part, shape) in zip(parts, shapes) {
            part.write(into: &joined, channelOffset: offset)
            offset += shape.channels
        }
        return .tensor(joined)
    }

    public func dropout2d(_ x: InferenceValue, probability: Double) -> InferenceValue { x }
}

/// A network definition ready to run tiles: its layers built from `weights` and checked
/// against them (a missing, misshapen or unused key fails here, naming it).
public final class InferenceNetwork {
    public let definition: any NetworkDefinition
    private let builder: InferenceBuilder

    /// `ignoring`: keys the weights may hold that the network never uses.
    public init(_ definition: any NetworkDefinition, weights: WeightSource, ignoring: Set<String> = []) throws {
        self.definition = definition
        builder = try InferenceBuilder(layers: ShapeTrace.layers(of: definition), weights: weights)
        try weights.finish(ignoring: ignoring)
    }

    /// The definition's outputs for one image.
    public func outputs(_ x: Tensor) -> [Tensor] { definition.outputs(InferenceValue.tensor(x), builder).map(\.tensor) }

    /// A segmentation network's logits (before the sigmoid), 1 × H × W for a 3 × H × W input.
    public func logits(_ x: Tensor) -> Tensor { outputs(x)[0] }
}
