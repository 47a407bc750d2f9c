import Core
import Foundation

/// The EfficientNet encoder of EffUnet, exactly as efficientnet_pytorch 0.7.1 computes it
/// (`EfficientNet.from_name`), returning the features a U-Net decoder taps.
///
/// Every convolution pads statically, "SAME" for the image size the variant was defined at
/// (b0 224, b5 456, …) and the resolution each stage has there; at other tile sizes the
/// padding stays what it was — (2, 2) rather than (1, 2) for some stride-2 5×5 convs at 512 —
/// as PyTorch computes it. Batch norms (eps 1e-3) are folded into their convolutions.
public final class EfficientNetEncoder {
    public let variant: EfficientNetVariant
    private let stem: Conv2d
    private let blocks: [MBConvBlock]
    /// Index of the last block of the /4, /8, /16 and /32 stages.
    private let featureBlocks: [Int]

    /// Builds the encoder, taking its parameters under `prefix` (e.g. "encoder.").
    public init(variant: EfficientNetVariant, weights: WeightSource, prefix: String) throws {
        self.variant = variant
        var imageSize = variant.imageSize
        let stemChannels = variant.filters(32)
        stem = try EfficientNetEncoder.conv(
            weights, prefix + "_conv_stem", input: 3, output: stemChannels, kernel: 3, stride: 2,
            imageSize: imageSize, norm: prefix + "_bn0", activation: .swish)
        imageSize = (imageSize + 1) / 2
        var blocks: [MBConvBlock] = []
        var stageEnds: [Int] = []
        for stage in EfficientNetVariant.stages {
            let input = variant.filters(stage.input), output = variant.filters(stage.output)
            for repeatIndex in 0..<variant.repeats(stage.repeats) {
                let first = repeatIndex == 0
                let block = try MBConvBlock(
                    weights: weights, prefix: prefix + "_blocks.\(blocks.count).",
                    input: first ? input : output, output: output, kernel: stage.kernel, stride: first ? stage.stride : 1,
                    expand: stage.expand, squeezed: max(1, Int(Double(first ? input : output) * 0.25)),
                    imageSize: imageSize,
                    // efficientnet_pytorch keeps a stage's first stride as a list, which never
                    // equals 1, so first blocks have no skip connection.
                    skip: !first)
                blocks.append(block)
                if first { imageSize = (imageSize + stage.stride - 1) / stage.stride }
            }
            stageEnds.append(blocks.count - 1)
        }
        self.blocks = blocks
        featureBlocks = [stageEnds[1], stageEnds[2], stageEnds[4], stageEnds[6]]
    }

    /// The stem output (/2) and the ends of the /4, /8, /16 and /32 stages.
    public func features(_ x: Tensor) -> [Tensor] {
        var x = stem(x)
        var features = [x]
        for (index, block) in blocks.enumerated() {
            x = block(x)
            if featureBlocks.contains(index) { features.append(x) }
        }
        return features
    }

    /// efficientnet_pytorch's static SAME padding for an input of `imageSize`: the odd pixel
    /// goes after.
    static func samePadding(kernel: Int, stride: Int, imageSize: Int) -> Conv2d.Padding {
        let outSize = (imageSize + stride - 1) / stride
        let pad = max((outSize - 1) * stride + kernel - imageSize, 0)
        return .init(top: pad / 2, left: pad / 2, bottom: pad - pad / 2, right: pad - pad / 2)
    }

    /// A convolution with efficientnet_pytorch's static SAME padding, its batch norm folded.
    static func conv(
        _ weights: WeightSource, _ name: String, input: Int, output: Int, kernel: Int, stride: Int, groups: Int = 1,
        imageSize: Int, norm: String?, activation: Activation, bias: Bool = false
    ) throws -> Conv2d {
        let conv = Conv2d(
            inChannels: input, outChannels: output, kernel: kernel, stride: stride,
            padding: samePadding(kernel: kernel, stride: stride, imageSize: imageSize), groups: groups, activation: activation)
        conv.weight = try weights.take(name + ".weight", shape: conv.weightShape)
        if bias { conv.bias = try weights.take(name + ".bias", shape: [output]) }
        if let norm { conv.fold(try ParameterLoading.batchNorm(weights, norm, channels: output, eps: 1e-3)) }
        return conv
    }
}

/// Mobile inverted bottleneck: expand 1×1 → depthwise k×k → squeeze-excitation →
/// project 1×1, swish after the first two, a residual when shapes allow.
final class MBConvBlock {
    private let expand: Conv2d?
    private let depthwise: Conv2d
    private let reduce: Conv2d
    private let excite: Conv2d
    private let project: Conv2d
    private let skip: Bool

    init(
        weights: WeightSource, prefix: String, input: Int, output: Int, kernel: Int, stride: Int, expand ratio: Int,
        squeezed: Int, imageSize: Int, skip: Bool
    ) throws {
        let hidden = input * ratio
        expand =
            ratio == 1
            ? nil
            : try EfficientNetEncoder.conv(
                weights, prefix + "_expand_conv", input: input, output: hidden, kernel: 1, stride: 1,
                imageSize: imageSize, norm: prefix + "_bn0", activation: .swish)
        depthwise = try EfficientNetEncoder.conv(
            weights, prefix + "_depthwise_conv", input: hidden, output: hidden, kernel: kernel, stride: stride,
            groups: hidden, imageSize: imageSize, norm: prefix + "_bn1", activation: .swish)
        reduce = try EfficientNetEncoder.conv(
            weights, prefix + "_se_reduce", input: hidden, output: squeezed, kernel: 1, stride: 1,
            imageSize: 1, norm: nil, activation: .swish, bias: true)
        excite = try EfficientNetEncoder.conv(
            weights, prefix + "_se_expand", input: squeezed, output: hidden, kernel: 1, stride: 1,
            imageSize: 1, norm: nil, activation: .sigmoid, bias: true)
        let outSize = (imageSize + stride - 1) / stride
        project = try EfficientNetEncoder.conv(
            weights, prefix + "_project_conv", input: hidden, output: output, kernel: 1, stride: 1,
            imageSize: outSize, norm: prefix + "_bn2", activation: .identity)
        self.skip = skip && stride == 1 && input == output
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        var x = expand.map { $0(input) } ?? input
        // Squeeze-excitation: gate each channel by a function of its mean.
        let (mapped, means) = depthwise.depthwiseWithMeans(x)
        x = mapped
        let squeezed = Tensor(channels: x.channels, height: 1, width: 1, data: means)
        let gates = excite(reduce(squeezed)).data
        return skip ? project(x, inputScale: gates, adding: input, then: .identity) : project(x, inputScale: gates)
    }
}
