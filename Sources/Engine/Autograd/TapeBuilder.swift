/// A network definition recorded on a tape: each operation as PyTorch computes it in
/// training (a unit is its conv, batch norm, drop-connect, residual and activation, each
/// recorded for the backward pass), over a batch.
public struct TapeBuilder: NetworkBuilder {
    public let tape: Tape

    public init(tape: Tape) { self.tape = tape }

    public func shape(of x: Variable) -> (channels: Int, height: Int, width: Int) {
        (x.value[0].channels, x.value[0].height, x.value[0].width)
    }

    public func conv(_ x: Variable, _ unit: ConvUnit, gates: Variable?, residual: Residual<Variable>?) -> Variable {
        let input = gates.map { tape.scaleChannels(x, by: $0) } ?? x
        var y =
            unit.weightNorm
            ? tape.weightNormConv(input, unit.key, shape: unit.shape) : tape.conv(input, unit.key, shape: unit.shape, bias: unit.bias)
        if let norm = unit.norm { y = tape.batchNorm(y, norm.key, eps: norm.eps, momentum: norm.momentum) }
        if let residual { y = tape.add(residual.dropConnect.map { tape.dropConnect(y, probability: $0) } ?? y, residual.value) }
        return unit.activation == .identity ? y : tape.activation(y, unit.activation)
    }

    public func convWithChannelMeans(_ x: Variable, _ unit: ConvUnit) -> (output: Variable, means: Variable) {
        let y = conv(x, unit)
        return (y, tape.globalAverage(y))
    }

    public func batchNorm(_ x: Variable, _ norm: NormUnit, activation: Activation) -> Variable {
        let y = tape.batchNorm(x, norm.key, eps: norm.eps, momentum: norm.momentum)
        return activation == .identity ? y : tape.activation(y, activation)
    }

    public func globalMax(_ x: Variable) -> Variable { tape.globalMax(x) }

    public func maxPool(_ x: Variable, kernel: Int, stride: Int, padding: Int) -> Variable {
        tape.maxPool(x, kernel: kernel, stride: stride, padding: padding)
    }

    public func bilinear(_ x: Variable, height: Int, width: Int, alignCorners: Bool) -> Variable {
        tape.bilinear(x, height: height, width: width, alignCorners: alignCorners)
    }

    public func pixelShuffle(_ x: Variable, factor: Int) -> Variable { tape.pixelShuffle(x, factor: factor) }
    public func concatenate(_ parts: [Variable]) -> Variable { tape.concatenate(parts) }
    public func dropout2d(_ x: Variable, probability: Double) -> Variable { tape.dropout2d(x, probability: probability) }
}

/// A segmentation network's training forward pass: its definition on a `Tape`, the same
/// layers and state_dict keys as inference, over a batch, batch norms unfolded and every
/// activation kept for the backward pass.
public struct TrainingNetwork: Sendable {
    public let architecture: Architecture
    let definition: any NetworkDefinition

    /// `dropConnect`: EfficientNet's drop-connect rate before scaling by block depth.
    public init(_ architecture: Architecture, dropConnect: Double = 0) {
        self.architecture = architecture
        definition = architecture.definition(dropConnect: dropConnect)
    }

    /// Logits, 1 × H × W per image, of a normalised 3 × H × W batch.
    public func logits(_ images: Variable, on tape: Tape) -> Variable { definition.outputs(images, TapeBuilder(tape: tape))[0] }

    /// The input side must be a multiple of this.
    public var alignment: Int { architecture.alignment }
}
