/// torchvision's resnext50_32x4d as the UneXt50 encoder slices it: enc0 = conv1 + bn1 +
/// ReLU (/2, 64), enc1 = max pool + layer1 (/4, 256), enc2…enc4 = layer2…layer4
/// (/8 512, /16 1024, /32 2048). Bottlenecks put the stride on the grouped 3×3 (32 groups
/// of width 4 × planes / 64), as torchvision does.
public struct ResNeXtEncoder: NetworkDefinition {
    public init() {}

    public func outputs<B: NetworkBuilder>(_ input: B.Value, _ b: B) -> [B.Value] {
        let enc0 = b.conv(
            input,
            UNetDecoder.convNormReLU("enc0.0", norm: "enc0.1", ConvolutionShape(inputChannels: 3, outputChannels: 64, kernel: 7, stride: 2, padding: 3)))
        var features = [enc0]
        var y = b.maxPool(enc0, kernel: 3, stride: 2, padding: 1)
        var input = 64
        for (index, (planes, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].enumerated() {
            let prefix = index == 0 ? "enc1.1." : "enc\(index + 1)."
            for block in 0..<blocks {
                y = bottleneck(
                    y, prefix: prefix + "\(block).", input: input, planes: planes, stride: block == 0 && index > 0 ? 2 : 1,
                    downsample: block == 0, b)
                input = planes * 4
            }
            features.append(y)
        }
        return features
    }

    /// 1×1 → grouped 3×3 (stride) → 1×1, each with its batch norm, ReLU between, plus the
    /// (downsampled) input, ReLU.
    private func bottleneck<B: NetworkBuilder>(
        _ x: B.Value, prefix: String, input: Int, planes: Int, stride: Int, downsample: Bool, _ b: B
    ) -> B.Value {
        let width = planes * 4 / 64 * 32
        var out = b.conv(
            x, UNetDecoder.convNormReLU(prefix + "conv1", norm: prefix + "bn1", ConvolutionShape(inputChannels: input, outputChannels: width, kernel: 1)))
        out = b.conv(
            out,
            UNetDecoder.convNormReLU(
                prefix + "conv2", norm: prefix + "bn2",
                ConvolutionShape(inputChannels: width, outputChannels: width, kernel: 3, stride: stride, groups: 32, padding: 1)))
        let last = ConvUnit(
            prefix + "conv3", ConvolutionShape(inputChannels: width, outputChannels: planes * 4, kernel: 1), norm: NormUnit(prefix + "bn3"),
            activation: .relu)
        let identity =
            downsample
            ? b.conv(
                x,
                ConvUnit(
                    prefix + "downsample.0", ConvolutionShape(inputChannels: input, outputChannels: planes * 4, kernel: 1, stride: stride),
                    norm: NormUnit(prefix + "downsample.1")))
            : x
        return b.conv(out, last, gates: nil, residual: Residual(identity))
    }
}

/// UneXt50: the ResNeXt50 encoder and the shared decoder with ASPP output 512.
public struct UneXt50: NetworkDefinition {
    public init() {}

    public func outputs<B: NetworkBuilder>(_ input: B.Value, _ b: B) -> [B.Value] {
        [UNetDecoder(asppOutput: 512)(ResNeXtEncoder().outputs(input, b), b)]
    }
}
