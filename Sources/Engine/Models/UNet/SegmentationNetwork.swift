import Core

/// A U-Net that maps a normalised RGB tensor to one channel of logits at full resolution.
public protocol SegmentationNetwork: AnyObject {
    /// Logits (before the sigmoid), 1 × H × W for a 3 × H × W input.
    func logits(_ x: Tensor) -> Tensor
    /// The input side must be a multiple of this.
    var alignment: Int { get }
}

/// The decoder both seed models share: ASPP on the deepest features, four UnetBlocks up to
/// /2, the FPN over ASPP and decoder maps, a 1×1 conv to one channel, bilinear ×2.
final class UNetDecoder {
    private let aspp: ASPP
    private let blocks: [UnetBlock]
    private let fpn: FPN
    private let final: Conv2d

    /// - Parameter encoder: channels of the /2, /4, /8, /16, /32 features.
    init(weights: WeightSource, encoder: [Int], asppOutput: Int, decoder: [Int]) throws {
        aspp = try ASPP(weights: weights, prefix: "aspp.", input: encoder[4], middle: 256, output: asppOutput, dilations: [1, 2, 3, 4])
        var blocks: [UnetBlock] = []
        var up = asppOutput
        for (index, output) in decoder.enumerated() {
            blocks.append(try UnetBlock(weights: weights, prefix: "dec\(4 - index).", upChannels: up, skipChannels: encoder[3 - index], output: output))
            up = output
        }
        self.blocks = blocks
        fpn = try FPN(weights: weights, prefix: "fpn.", inputs: [asppOutput] + decoder.dropLast(), outputs: [16, 16, 16, 16])
        final = try ParameterLoading.conv(weights, "final_conv.0", input: decoder.last! + 16 * 4, output: 1, kernel: 1, bias: true)
    }

    static func ignoredKeys() -> Set<String> { ASPP.ignoredKeys("aspp.") }

    /// Logits from the encoder's five features (dropout is the identity at inference).
    func callAsFunction(_ features: [Tensor]) -> Tensor {
        let top = aspp(features[4])
        var maps = [top]
        var x = top
        for (index, block) in blocks.enumerated() {
            x = block(x, features[3 - index])
            maps.append(x)
        }
        let joined = fpn(Array(maps.dropLast()), last: maps.last!)
        let y = final(joined)
        return Resampling.bilinear(y, height: y.height * 2, width: y.width * 2, alignCorners: false)
    }
}

/// EffUnet: an EfficientNet encoder (keys `encoder.…`) and the shared decoder with ASPP
/// output 384.
public final class EffUnet: SegmentationNetwork {
    public let variant: EfficientNetVariant
    private let encoder: EfficientNetEncoder
    private let decoder: UNetDecoder
    public var alignment: Int { 32 }

    public init(variant: EfficientNetVariant, weights: WeightSource) throws {
        self.variant = variant
        encoder = try EfficientNetEncoder(variant: variant, weights: weights, prefix: "encoder.")
        decoder = try UNetDecoder(weights: weights, encoder: variant.featureChannels, asppOutput: 384, decoder: [256, 128, 64, 32])
        try weights.finish(ignoring: Self.unusedKeys)
    }

    /// Keys of the seed's state_dict the U-Net never uses: the encoder's classification
    /// head, and ASPP's unused conv.
    static var unusedKeys: Set<String> {
        var ignored = UNetDecoder.ignoredKeys()
        for key in ["_conv_head.weight", "_bn1.weight", "_bn1.bias", "_bn1.running_mean", "_bn1.running_var", "_fc.weight", "_fc.bias"] {
            ignored.insert("encoder." + key)
        }
        return ignored
    }

    public func logits(_ x: Tensor) -> Tensor { decoder(encoder.features(x)) }
}

/// UneXt50: the ResNeXt50 encoder and the shared decoder with ASPP output 512.
public final class UneXt50: SegmentationNetwork {
    private let encoder: ResNeXtEncoder
    private let decoder: UNetDecoder
    public var alignment: Int { 32 }

    public init(weights: WeightSource) throws {
        encoder = try ResNeXtEncoder(weights: weights)
        decoder = try UNetDecoder(weights: weights, encoder: [64, 256, 512, 1024, 2048], asppOutput: 512, decoder: [256, 128, 64, 32])
        try weights.finish(ignoring: Self.unusedKeys)
    }

    /// ASPP's unused conv.
    static var unusedKeys: Set<String> { UNetDecoder.ignoredKeys() }

    public func logits(_ x: Tensor) -> Tensor { decoder(encoder.features(x)) }
}
