import Core

/// A segmentation network's training forward pass on a `Tape`: the same computation as the
/// inference network of the same architecture (Engine/Models), layer by layer and with the
/// same state_dict keys, but over a batch, with batch norms unfolded and every activation
/// kept for the backward pass.
public protocol TrainingNetwork: Sendable {
    /// Logits, 1 × H × W per image, of a normalised 3 × H × W batch.
    func logits(_ images: Variable, on tape: Tape) -> Variable
    /// The input side must be a multiple of this.
    var alignment: Int { get }
}

/// The training networks, by the architecture names configurations use.
public enum TrainingNetworks {
    /// The training network of `architecture`; `dropConnect` is EfficientNet's drop-connect
    /// rate (scaled by block depth as `EfficientNet.forward` does; the seed's EffUnet calls
    /// its blocks without it, so 0 reproduces the seed).
    public static func make(_ architecture: String, dropConnect: Double = 0) throws -> TrainingNetwork {
        if architecture == "unext50" { return UneXt50Graph() }
        if architecture.hasPrefix("effunet-"), let variant = EfficientNetVariant.named(String(architecture.dropFirst(8))) {
            return EffUnetGraph(variant: variant, dropConnect: dropConnect)
        }
        throw TesseraError(architecture, "unknown CNN architecture (known: \(CNNModel.architectures.joined(separator: ", ")))")
    }
}

/// The decoder both seed models share (see `UNetDecoder`): ASPP, four UnetBlocks, the FPN,
/// a 1×1 conv to one channel and bilinear ×2, with the seed's Dropout2d(0.5) after ASPP and
/// Dropout2d(0.1) before the last conv (active only when the tape has a random source).
struct UNetDecoderGraph: Sendable {
    let asppOutput: Int

    func callAsFunction(_ features: [Variable], on tape: Tape) -> Variable {
        let top = aspp(features[4], on: tape)
        var maps = [top]
        var x = tape.dropout2d(top, probability: 0.5)
        for index in 0..<4 {
            x = unetBlock(x, features[3 - index], prefix: "dec\(4 - index).", output: [256, 128, 64, 32][index], on: tape)
            maps.append(x)
        }
        let joined = fpn(Array(maps.dropLast()), last: maps.last!, on: tape)
        let y = tape.conv(
            tape.dropout2d(joined, probability: 0.1), "final_conv.0",
            shape: ConvolutionShape(inputChannels: joined.value[0].channels, outputChannels: 1, kernel: 1), bias: true)
        return tape.bilinear(y, height: y.value[0].height * 2, width: y.value[0].width * 2, alignCorners: false)
    }

    /// conv → BN (1e-5, momentum 0.1) → ReLU, the decoder's and torchvision's unit.
    static func convNormReLU(_ x: Variable, conv: String, norm: String, shape: ConvolutionShape, on tape: Tape) -> Variable {
        tape.activation(tape.batchNorm(tape.conv(x, conv, shape: shape), norm, eps: 1e-5, momentum: 0.1), .relu)
    }

    private func aspp(_ x: Variable, on tape: Tape) -> Variable {
        let input = x.value[0].channels, middle = 256
        let (height, width) = (x.value[0].height, x.value[0].width)
        let pooled = Self.convNormReLU(
            tape.globalMax(x), conv: "aspp.global_pool.1", norm: "aspp.global_pool.2",
            shape: ConvolutionShape(inputChannels: input, outputChannels: middle, kernel: 1), on: tape)
        var branches = [
            Self.convNormReLU(
                x, conv: "aspp.aspps.0.atrous_conv", norm: "aspp.aspps.0.bn",
                shape: ConvolutionShape(inputChannels: input, outputChannels: middle, kernel: 1), on: tape)
        ]
        for d in 1...4 {
            branches.append(
                Self.convNormReLU(
                    x, conv: "aspp.aspps.\(d).atrous_conv", norm: "aspp.aspps.\(d).bn",
                    shape: ConvolutionShape(
                        inputChannels: input, outputChannels: middle, kernel: 3, dilation: d,
                        groups: 4, padding: d), on: tape))
        }
        let global = tape.bilinear(pooled, height: height, width: width, alignCorners: true)
        return Self.convNormReLU(
            tape.concatenate([global] + branches), conv: "aspp.out_conv.0", norm: "aspp.out_conv.1",
            shape: ConvolutionShape(inputChannels: middle * 6, outputChannels: asppOutput, kernel: 1), on: tape)
    }

    private func unetBlock(_ up: Variable, _ skip: Variable, prefix: String, output: Int, on tape: Tape) -> Variable {
        let upChannels = up.value[0].channels, half = upChannels / 2, skipChannels = skip.value[0].channels
        let shuffled = tape.pixelShuffle(
            tape.activation(
                tape.weightNormConv(
                    up, prefix + "shuf.0.0",
                    shape: ConvolutionShape(inputChannels: upChannels, outputChannels: half * 4, kernel: 1)), .relu), factor: 2)
        let joined = tape.activation(tape.concatenate([shuffled, tape.batchNorm(skip, prefix + "bn", eps: 1e-5, momentum: 0.1)]), .relu)
        let first = tape.activation(
            tape.conv(
                joined, prefix + "conv1.0",
                shape: ConvolutionShape(
                    inputChannels: half + skipChannels,
                    outputChannels: output, kernel: 3, padding: 1), bias: true), .relu)
        return tape.activation(
            tape.conv(
                first, prefix + "conv2.0",
                shape: ConvolutionShape(
                    inputChannels: output, outputChannels: output,
                    kernel: 3, padding: 1), bias: true), .relu)
    }

    private func fpn(_ levels: [Variable], last: Variable, on tape: Tape) -> Variable {
        var parts: [Variable] = []
        for (index, level) in levels.enumerated() {
            let name = "fpn.convs.\(index)."
            let input = level.value[0].channels
            var y = tape.activation(
                tape.conv(
                    level, name + "0", shape: ConvolutionShape(inputChannels: input, outputChannels: 32, kernel: 3, padding: 1),
                    bias: true), .relu)
            y = tape.batchNorm(y, name + "2", eps: 1e-5, momentum: 0.1)
            y = tape.conv(y, name + "3", shape: ConvolutionShape(inputChannels: 32, outputChannels: 16, kernel: 3, padding: 1), bias: true)
            let factor = 1 << (levels.count - index)
            parts.append(tape.bilinear(y, height: y.value[0].height * factor, width: y.value[0].width * factor, alignCorners: false))
        }
        return tape.concatenate(parts + [last])
    }
}
