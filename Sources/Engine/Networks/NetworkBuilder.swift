/// The operations a network definition is written in. Each network's topology and
/// state_dict keys are spelled once, generic over a builder; three builders give it
/// meaning:
/// - `ShapeTrace` follows shapes only, and lists the layers and their parameters in order
///   (the table of keys a checkpoint must hold);
/// - `InferenceBuilder` runs a tile through prepared layers, batch norms folded;
/// - `TapeBuilder` records a batch's forward pass on a `Tape` for the backward pass.
///
/// The operations are as coarse as inference fuses them (a convolution with its batch norm,
/// activation, channel gates and residual), so that one definition serves both without a
/// graph compiler; training spells each one out as PyTorch computes it.
public protocol NetworkBuilder {
    associatedtype Value

    /// Channels, height and width of one image of `x`.
    func shape(of x: Value) -> (channels: Int, height: Int, width: Int)

    /// after(norm(conv(x · gates)) + residual): `unit`'s convolution of x, each input channel
    /// scaled by `gates` (1×1 maps, a squeeze-excitation) when given, its batch norm, the
    /// residual added, then the unit's activation.
    func conv(_ x: Value, _ unit: ConvUnit, gates: Value?, residual: Residual<Value>?) -> Value

    /// `unit` of x and the per-channel means of its output as a 1×1 map (a depthwise
    /// convolution feeding a squeeze-excitation).
    func convWithChannelMeans(_ x: Value, _ unit: ConvUnit) -> (output: Value, means: Value)

    /// `nn.BatchNorm2d`, then `activation`.
    func batchNorm(_ x: Value, _ norm: NormUnit, activation: Activation) -> Value

    /// `nn.AdaptiveMaxPool2d(1)`.
    func globalMax(_ x: Value) -> Value
    /// `nn.MaxPool2d`.
    func maxPool(_ x: Value, kernel: Int, stride: Int, padding: Int) -> Value
    /// `F.interpolate(mode="bilinear")`.
    func bilinear(_ x: Value, height: Int, width: Int, alignCorners: Bool) -> Value
    /// `nn.PixelShuffle`.
    func pixelShuffle(_ x: Value, factor: Int) -> Value
    /// `torch.cat(parts, dim=1)`.
    func concatenate(_ parts: [Value]) -> Value
    /// `nn.Dropout2d` (the identity outside training).
    func dropout2d(_ x: Value, probability: Double) -> Value
}

extension NetworkBuilder {
    public func conv(_ x: Value, _ unit: ConvUnit) -> Value { conv(x, unit, gates: nil, residual: nil) }
}

/// A convolution as a network declares it: its state_dict name, shape, whether it has a
/// bias or is weight-normalised (`weight_g`, `weight_v` and a bias: fast.ai's
/// PixelShuffle_ICNR), the batch norm that follows it, and the activation after both (and
/// after a residual).
public struct ConvUnit: Sendable, Equatable {
    public var key: String
    public var shape: ConvolutionShape
    public var bias: Bool
    public var weightNorm: Bool
    public var norm: NormUnit?
    public var activation: Activation

    public init(
        _ key: String, _ shape: ConvolutionShape, bias: Bool = false, weightNorm: Bool = false, norm: NormUnit? = nil,
        activation: Activation = .identity
    ) {
        self.key = key
        self.shape = shape
        self.bias = bias || weightNorm
        self.weightNorm = weightNorm
        self.norm = norm
        self.activation = activation
    }

    /// [out, in / groups, k, k], as a PyTorch state_dict holds it.
    public var weightShape: [Int] { [shape.outputChannels, shape.inputChannels / shape.groups, shape.kernel, shape.kernel] }

    /// The unit's parameters and buffers by state_dict key, in loading order.
    public var parameters: [(key: String, shape: [Int])] {
        let out = shape.outputChannels
        var list: [(key: String, shape: [Int])] =
            weightNorm ? [(key + ".weight_g", [out, 1, 1, 1]), (key + ".weight_v", weightShape)] : [(key + ".weight", weightShape)]
        if bias { list.append((key + ".bias", [out])) }
        if let norm { list += norm.parameters(channels: out) }
        return list
    }
}

/// A batch norm's state_dict name and its constants (PyTorch's eps and momentum).
public struct NormUnit: Sendable, Equatable {
    public var key: String
    public var eps: Float
    public var momentum: Double

    public init(_ key: String, eps: Float = 1e-5, momentum: Double = 0.1) {
        self.key = key
        self.eps = eps
        self.momentum = momentum
    }

    /// Gain, shift and the running statistics, by state_dict key.
    public func parameters(channels: Int) -> [(key: String, shape: [Int])] {
        ["weight", "bias", "running_mean", "running_var"].map { (key + "." + $0, [channels]) }
    }
}

/// A residual added after a convolution's batch norm; in training the convolution's output
/// first goes through drop-connect when a rate is given (EfficientNet's MBConv).
public struct Residual<Value> {
    public var value: Value
    public var dropConnect: Double?

    public init(_ value: Value, dropConnect: Double? = nil) {
        self.value = value
        self.dropConnect = dropConnect
    }
}

/// A network written once over `NetworkBuilder`: its outputs for an input (the logits, or an
/// encoder's features).
public protocol NetworkDefinition: Sendable {
    func outputs<B: NetworkBuilder>(_ input: B.Value, _ b: B) -> [B.Value]
}
