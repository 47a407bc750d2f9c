/// The decoder both seed models share (the HuBMAP fast.ai starter): ASPP on the deepest
/// features, four fast.ai UnetBlocks up to /2, the FPN over the ASPP and decoder maps, a
/// 1×1 conv to one channel, bilinear ×2; Dropout2d(0.5) after ASPP and Dropout2d(0.1)
/// before the last conv.
struct UNetDecoder: Sendable {
    let asppOutput: Int
    static let blockOutputs = [256, 128, 64, 32]

    /// Logits from the encoder's five features (/2 … /32).
    func callAsFunction<B: NetworkBuilder>(_ features: [B.Value], _ b: B) -> B.Value {
        let top = aspp(features[4], b)
        var maps = [top]
        var x = b.dropout2d(top, probability: 0.5)
        for (index, output) in Self.blockOutputs.enumerated() {
            x = unetBlock(x, features[3 - index], prefix: "dec\(4 - index).", output: output, b)
            maps.append(x)
        }
        let joined = fpn(Array(maps.dropLast()), last: maps.last!, b)
        let y = b.conv(
            b.dropout2d(joined, probability: 0.1),
            ConvUnit("final_conv.0", ConvolutionShape(inputChannels: b.shape(of: joined).channels, outputChannels: 1, kernel: 1), bias: true))
        let size = b.shape(of: y)
        return b.bilinear(y, height: size.height * 2, width: size.width * 2, alignCorners: false)
    }

    /// conv → BN (eps 1e-5, momentum 0.1) → ReLU, the decoder's and torchvision's unit.
    static func convNormReLU(_ key: String, norm: String, _ shape: ConvolutionShape) -> ConvUnit {
        ConvUnit(key, shape, norm: NormUnit(norm), activation: .relu)
    }

    /// Atrous spatial pyramid pooling as the starter defines it: a 1×1 branch, 3×3 branches
    /// dilated 1…4 (groups 4) and a global branch (AdaptiveMaxPool → 1×1 → BN → ReLU,
    /// upsampled with align_corners), concatenated global first → 1×1 → BN → ReLU. (The
    /// global pool is taken first so that the backward pass sums the input's gradients in
    /// PyTorch's order; its conv's keys load after the branches'.)
    private func aspp<B: NetworkBuilder>(_ x: B.Value, _ b: B) -> B.Value {
        let size = b.shape(of: x), middle = 256
        let pooled = b.globalMax(x)
        var branches = [
            b.conv(
                x,
                Self.convNormReLU(
                    "aspp.aspps.0.atrous_conv", norm: "aspp.aspps.0.bn",
                    ConvolutionShape(inputChannels: size.channels, outputChannels: middle, kernel: 1)))
        ]
        for d in 1...4 {
            let shape = ConvolutionShape(inputChannels: size.channels, outputChannels: middle, kernel: 3, dilation: d, groups: 4, padding: d)
            branches.append(b.conv(x, Self.convNormReLU("aspp.aspps.\(d).atrous_conv", norm: "aspp.aspps.\(d).bn", shape)))
        }
        let global = b.conv(
            pooled,
            Self.convNormReLU(
                "aspp.global_pool.1", norm: "aspp.global_pool.2", ConvolutionShape(inputChannels: size.channels, outputChannels: middle, kernel: 1)
            ))
        let upsampled = b.bilinear(global, height: size.height, width: size.width, alignCorners: true)
        return b.conv(
            b.concatenate([upsampled] + branches),
            Self.convNormReLU(
                "aspp.out_conv.0", norm: "aspp.out_conv.1", ConvolutionShape(inputChannels: middle * 6, outputChannels: asppOutput, kernel: 1)))
    }

    /// fast.ai's UnetBlock: the coarser map upsampled by PixelShuffle_ICNR (weight-normalised
    /// 1×1 conv to 4·(up/2) channels, ReLU, pixel shuffle ×2), concatenated with the
    /// batch-normalised skip, ReLU, then two 3×3 ConvLayers (bias, ReLU). relu(cat(a, b)) is
    /// written cat(a, relu(b)): the shuffled half is past a ReLU already.
    private func unetBlock<B: NetworkBuilder>(_ up: B.Value, _ skip: B.Value, prefix: String, output: Int, _ b: B) -> B.Value {
        let upChannels = b.shape(of: up).channels, half = upChannels / 2, skipChannels = b.shape(of: skip).channels
        let shuffled = b.pixelShuffle(
            b.conv(
                up,
                ConvUnit(
                    prefix + "shuf.0.0", ConvolutionShape(inputChannels: upChannels, outputChannels: half * 4, kernel: 1), weightNorm: true,
                    activation: .relu)), factor: 2)
        let joined = b.concatenate([shuffled, b.batchNorm(skip, NormUnit(prefix + "bn"), activation: .relu)])
        let first = b.conv(
            joined,
            ConvUnit(
                prefix + "conv1.0", ConvolutionShape(inputChannels: half + skipChannels, outputChannels: output, kernel: 3, padding: 1), bias: true,
                activation: .relu))
        return b.conv(
            first,
            ConvUnit(
                prefix + "conv2.0", ConvolutionShape(inputChannels: output, outputChannels: output, kernel: 3, padding: 1), bias: true,
                activation: .relu))
    }

    /// The starter's feature pyramid: level i goes conv3×3 → ReLU → BN → conv3×3 and is
    /// upsampled bilinearly by 2^(levels − i) to the finest decoder map; the levels are
    /// concatenated, followed by that map.
    private func fpn<B: NetworkBuilder>(_ levels: [B.Value], last: B.Value, _ b: B) -> B.Value {
        var parts: [B.Value] = []
        for (index, level) in levels.enumerated() {
            let name = "fpn.convs.\(index)."
            var y = b.conv(
                level,
                ConvUnit(
                    name + "0", ConvolutionShape(inputChannels: b.shape(of: level).channels, outputChannels: 32, kernel: 3, padding: 1), bias: true,
                    activation: .relu))
            y = b.batchNorm(y, NormUnit(name + "2"), activation: .identity)
            y = b.conv(y, ConvUnit(name + "3", ConvolutionShape(inputChannels: 32, outputChannels: 16, kernel: 3, padding: 1), bias: true))
            let factor = 1 << (levels.count - index), size = b.shape(of: y)
            parts.append(b.bilinear(y, height: size.height * factor, width: size.width * factor, alignCorners: false))
        }
        return b.concatenate(parts + [last])
    }
}
