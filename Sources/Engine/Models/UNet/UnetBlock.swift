/// fastai's UnetBlock: the coarser map is upsampled by PixelShuffle_ICNR (weight-normalised
/// 1×1 conv to 4·(up/2) channels, ReLU, pixel shuffle ×2), concatenated with the batch-
/// normalised skip, ReLU, then two 3×3 ConvLayers (bias, ReLU, no norm).
final class UnetBlock {
    private let shuffleConv: Conv2d
    private let skipNorm: BatchNorm
    private let conv1: Conv2d
    private let conv2: Conv2d

    init(weights: WeightSource, prefix: String, upChannels: Int, skipChannels: Int, output: Int) throws {
        let half = upChannels / 2
        shuffleConv = try ParameterLoading.weightNormConv(weights, prefix + "shuf.0.0", input: upChannels, output: half * 4, kernel: 1, activation: .relu)
        skipNorm = try ParameterLoading.batchNorm(weights, prefix + "bn", channels: skipChannels)
        conv1 = try ParameterLoading.conv(
            weights, prefix + "conv1.0", input: half + skipChannels, output: output, kernel: 3, padding: 1,
            bias: true, activation: .relu)
        conv2 = try ParameterLoading.conv(
            weights, prefix + "conv2.0", input: output, output: output, kernel: 3, padding: 1,
            bias: true, activation: .relu)
    }

    func callAsFunction(_ up: Tensor, _ skip: Tensor) -> Tensor {
        // relu(cat(a, b)) = cat(a, relu(b)): the shuffled half already passed a ReLU. Both
        // halves are written in place in the concatenation.
        let shuffled = shuffleConv(up)
        let half = shuffled.channels / 4
        var joined = Tensor(uninitializedChannels: half + skip.channels, height: skip.height, width: skip.width)
        Resampling.pixelShuffle(shuffled, factor: 2, into: &joined, channelOffset: 0)
        skipNorm(skip, activation: .relu, into: &joined, channelOffset: half)
        return conv2(conv1(joined))
    }
}
