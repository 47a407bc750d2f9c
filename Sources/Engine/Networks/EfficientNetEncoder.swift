/// The EfficientNet encoder of EffUnet, exactly as efficientnet_pytorch 0.7.1 computes it
/// (`EfficientNet.from_name`; batch norms eps 1e-3, momentum 0.01), returning the features
/// a U-Net decoder taps: the stem output (/2) and the ends of the /4, /8, /16, /32 stages.
///
/// Every convolution pads statically, "SAME" for the image size the variant was defined at
/// (b0 224, b5 456, …) and the resolution each stage has there; at other tile sizes the
/// padding stays what it was — (2, 2) rather than (1, 2) for some stride-2 5×5 convs at 512 —
/// as PyTorch computes it.
public struct EfficientNetEncoder: NetworkDefinition {
    public let variant: EfficientNetVariant
    /// Where its keys live: "encoder." in EffUnet.
    public let prefix: String
    /// The drop-connect rate before scaling by block depth (training only; the seed's EffUnet
    /// calls its blocks without it, so 0 reproduces the seed).
    public let dropConnect: Double

    public init(variant: EfficientNetVariant, prefix: String, dropConnect: Double = 0) {
        self.variant = variant
        self.prefix = prefix
        self.dropConnect = dropConnect
    }

    public func outputs<B: NetworkBuilder>(_ input: B.Value, _ b: B) -> [B.Value] {
        var imageSize = variant.imageSize
        var x = b.conv(
            input,
            unit(
                "_conv_stem", norm: "_bn0", Self.same(input: 3, output: variant.filters(32), kernel: 3, stride: 2, imageSize: imageSize),
                activation: .swish))
        imageSize = (imageSize + 1) / 2
        var features = [x]
        let blockCount = EfficientNetVariant.stages.reduce(0) { $0 + variant.repeats($1.repeats) }
        var block = 0
        for (stageIndex, stage) in EfficientNetVariant.stages.enumerated() {
            let input = variant.filters(stage.input), output = variant.filters(stage.output)
            for repeatIndex in 0..<variant.repeats(stage.repeats) {
                // efficientnet_pytorch keeps a stage's first stride as a list, which never
                // equals 1, so first blocks have no skip connection.
                let first = repeatIndex == 0
                x = mbConv(
                    x, prefix: "_blocks.\(block).", input: first ? input : output, output: output, kernel: stage.kernel,
                    stride: first ? stage.stride : 1, expand: stage.expand, imageSize: imageSize, skip: !first,
                    dropConnect: dropConnect * Double(block) / Double(blockCount), b)
                if first { imageSize = (imageSize + stage.stride - 1) / stage.stride }
                block += 1
            }
            if [1, 2, 4, 6].contains(stageIndex) { features.append(x) }
        }
        return features
    }

    /// efficientnet_pytorch's static SAME padding for an input of `imageSize` (the odd
    /// pixel goes after), as a convolution's shape.
    static func same(input: Int, output: Int, kernel: Int, stride: Int, groups: Int = 1, imageSize: Int) -> ConvolutionShape {
        let outSize = (imageSize + stride - 1) / stride
        let pad = max((outSize - 1) * stride + kernel - imageSize, 0)
        return ConvolutionShape(
            inputChannels: input, outputChannels: output, kernel: kernel, stride: stride, dilation: 1, groups: groups,
            padTop: pad / 2, padLeft: pad / 2, padBottom: pad - pad / 2, padRight: pad - pad / 2)
    }

    /// conv → BN (eps 1e-3, momentum 0.01) → activation.
    private func unit(_ conv: String, norm: String, _ shape: ConvolutionShape, activation: Activation) -> ConvUnit {
        ConvUnit(prefix + conv, shape, norm: NormUnit(prefix + norm, eps: 1e-3, momentum: 0.01), activation: activation)
    }

    /// Mobile inverted bottleneck: expand 1×1 → depthwise k×k → squeeze-excitation (gates
    /// from the channel means: 1×1 reduce, swish, 1×1 expand, sigmoid) → project 1×1; swish
    /// after the first two; a residual when shapes allow.
    private func mbConv<B: NetworkBuilder>(
        _ inputs: B.Value, prefix: String, input: Int, output: Int, kernel: Int, stride: Int, expand: Int, imageSize: Int,
        skip: Bool, dropConnect: Double, _ b: B
    ) -> B.Value {
        let hidden = input * expand
        var x = inputs
        if expand != 1 {
            x = b.conv(
                x,
                unit(
                    prefix + "_expand_conv", norm: prefix + "_bn0",
                    Self.same(input: input, output: hidden, kernel: 1, stride: 1, imageSize: imageSize), activation: .swish))
        }
        let (mapped, means) = b.convWithChannelMeans(
            x,
            unit(
                prefix + "_depthwise_conv", norm: prefix + "_bn1",
                Self.same(input: hidden, output: hidden, kernel: kernel, stride: stride, groups: hidden, imageSize: imageSize), activation: .swish))
        let squeezed = max(1, Int(Double(input) * 0.25))
        let reduced = b.conv(
            means,
            ConvUnit(
                self.prefix + prefix + "_se_reduce", ConvolutionShape(inputChannels: hidden, outputChannels: squeezed, kernel: 1), bias: true,
                activation: .swish))
        let gates = b.conv(
            reduced,
            ConvUnit(
                self.prefix + prefix + "_se_expand", ConvolutionShape(inputChannels: squeezed, outputChannels: hidden, kernel: 1), bias: true,
                activation: .sigmoid))
        let outSize = (imageSize + stride - 1) / stride
        let project = unit(
            prefix + "_project_conv", norm: prefix + "_bn2", Self.same(input: hidden, output: output, kernel: 1, stride: 1, imageSize: outSize),
            activation: .identity)
        let residual = skip && stride == 1 && input == output ? Residual(inputs, dropConnect: dropConnect) : nil
        return b.conv(mapped, project, gates: gates, residual: residual)
    }
}

/// EffUnet: an EfficientNet encoder (keys `encoder.…`) and the shared decoder with ASPP
/// output 384.
public struct EffUnet: NetworkDefinition {
    public let encoder: EfficientNetEncoder

    public init(variant: EfficientNetVariant, dropConnect: Double = 0) {
        encoder = EfficientNetEncoder(variant: variant, prefix: "encoder.", dropConnect: dropConnect)
    }

    public func outputs<B: NetworkBuilder>(_ input: B.Value, _ b: B) -> [B.Value] {
        [UNetDecoder(asppOutput: 384)(encoder.outputs(input, b), b)]
    }
}
