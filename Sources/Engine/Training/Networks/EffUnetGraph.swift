import Core

/// EffUnet for training: the EfficientNet encoder as efficientnet_pytorch 0.7.1 computes it
/// in training mode (batch norms momentum 0.01, eps 1e-3; static SAME padding for the
/// variant's image size, see `EfficientNetEncoder`) and the shared decoder with ASPP
/// output 384.
struct EffUnetGraph: TrainingNetwork {
    let variant: EfficientNetVariant
    /// The encoder's drop-connect rate before scaling by block depth.
    let dropConnect: Double
    var alignment: Int { 32 }

    func logits(_ images: Variable, on tape: Tape) -> Variable {
        var imageSize = variant.imageSize
        var x = unit(
            images, conv: "encoder._conv_stem", norm: "encoder._bn0",
            shape: Self.same(input: 3, output: variant.filters(32), kernel: 3, stride: 2, imageSize: imageSize), activation: .swish, on: tape)
        imageSize = (imageSize + 1) / 2
        var features = [x]
        let blockCount = EfficientNetVariant.stages.reduce(0) { $0 + variant.repeats($1.repeats) }
        var block = 0
        for (stageIndex, stage) in EfficientNetVariant.stages.enumerated() {
            let input = variant.filters(stage.input), output = variant.filters(stage.output)
            for repeatIndex in 0..<variant.repeats(stage.repeats) {
                let first = repeatIndex == 0
                x = mbConv(
                    x, prefix: "encoder._blocks.\(block).", input: first ? input : output, output: output, kernel: stage.kernel,
                    stride: first ? stage.stride : 1, expand: stage.expand, imageSize: imageSize, skip: !first,
                    dropConnect: dropConnect * Double(block) / Double(blockCount), on: tape)
                if first { imageSize = (imageSize + stage.stride - 1) / stage.stride }
                block += 1
            }
            if [1, 2, 4, 6].contains(stageIndex) { features.append(x) }
        }
        return UNetDecoderGraph(asppOutput: 384)(features, on: tape)
    }

    /// A convolution's shape with efficientnet_pytorch's static SAME padding for `imageSize`.
    static func same(input: Int, output: Int, kernel: Int, stride: Int, groups: Int = 1, imageSize: Int) -> ConvolutionShape {
        let pad = EfficientNetEncoder.samePadding(kernel: kernel, stride: stride, imageSize: imageSize)
        return ConvolutionShape(
            inputChannels: input, outputChannels: output, kernel: kernel, stride: stride, dilation: 1, groups: groups,
            padTop: pad.top, padLeft: pad.left, padBottom: pad.bottom, padRight: pad.right)
    }

    /// conv → BN (momentum 0.01, eps 1e-3) → activation.
    private func unit(_ x: Variable, conv: String, norm: String, shape: ConvolutionShape, activation: Activation, on tape: Tape) -> Variable {
        let y = tape.batchNorm(tape.conv(x, conv, shape: shape), norm, eps: 1e-3, momentum: 0.01)
        return activation == .identity ? y : tape.activation(y, activation)
    }

    /// Mobile inverted bottleneck (see `MBConvBlock`).
    private func mbConv(
        _ inputs: Variable, prefix: String, input: Int, output: Int, kernel: Int, stride: Int, expand: Int, imageSize: Int,
        skip: Bool, dropConnect: Double, on tape: Tape
    ) -> Variable {
        let hidden = input * expand
        var x = inputs
        if expand != 1 {
            x = unit(
                x, conv: prefix + "_expand_conv", norm: prefix + "_bn0",
                shape: Self.same(input: input, output: hidden, kernel: 1, stride: 1, imageSize: imageSize), activation: .swish, on: tape)
        }
        x = unit(
            x, conv: prefix + "_depthwise_conv", norm: prefix + "_bn1",
            shape: Self.same(input: hidden, output: hidden, kernel: kernel, stride: stride, groups: hidden, imageSize: imageSize),
            activation: .swish, on: tape)
        let squeezed = max(1, Int(Double(input) * 0.25))
        var gates = tape.globalAverage(x)
        gates = tape.activation(
            tape.conv(
                gates, prefix + "_se_reduce", shape: ConvolutionShape(inputChannels: hidden, outputChannels: squeezed, kernel: 1),
                bias: true), .swish)
        gates = tape.activation(
            tape.conv(
                gates, prefix + "_se_expand", shape: ConvolutionShape(inputChannels: squeezed, outputChannels: hidden, kernel: 1),
                bias: true), .sigmoid)
        x = tape.scaleChannels(x, by: gates)
        let outSize = (imageSize + stride - 1) / stride
        x = unit(
            x, conv: prefix + "_project_conv", norm: prefix + "_bn2",
            shape: Self.same(input: hidden, output: output, kernel: 1, stride: 1, imageSize: outSize), activation: .identity, on: tape)
        guard skip && stride == 1 && input == output else { return x }
        return tape.add(tape.dropConnect(x, probability: dropConnect), inputs)
    }
}
