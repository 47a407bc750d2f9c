/// The starter's feature pyramid: level i goes conv3×3 → ReLU → BN → conv3×3 and is
/// upsampled bilinearly (align_corners = false) by 2^(levels − i) to the finest decoder
/// map; the levels are concatenated, followed by that map.
final class FPN {
    private let first: [Conv2d]
    private let norms: [BatchNorm]
    private let second: [Conv2d]

    init(weights: WeightSource, prefix: String, inputs: [Int], outputs: [Int]) throws {
        var first: [Conv2d] = [], norms: [BatchNorm] = [], second: [Conv2d] = []
        for (index, (input, output)) in zip(inputs, outputs).enumerated() {
            let name = prefix + "convs.\(index)."
            first.append(try ParameterLoading.conv(weights, name + "0", input: input, output: output * 2, kernel: 3, padding: 1, bias: true, activation: .relu))
            norms.append(try ParameterLoading.batchNorm(weights, name + "2", channels: output * 2))
            second.append(try ParameterLoading.conv(weights, name + "3", input: output * 2, output: output, kernel: 3, padding: 1, bias: true))
        }
        self.first = first
        self.norms = norms
        self.second = second
    }

    /// The upsampled levels followed by `last`, concatenated (each level upsampled into
    /// its place).
    func callAsFunction(_ levels: [Tensor], last: Tensor) -> Tensor {
        let channels = second.prefix(levels.count).reduce(last.channels) { $0 + $1.outChannels }
        var joined = Tensor(uninitializedChannels: channels, height: last.height, width: last.width)
        var offset = 0
        for (index, level) in levels.enumerated() {
            let factor = 1 << (levels.count - index)
            let y = second[index](norms[index](first[index](level)))
            precondition(y.height * factor == last.height && y.width * factor == last.width, "FPN level \(index) does not scale to the last map")
            Resampling.bilinear(y, alignCorners: false, into: &joined, channelOffset: offset)
            offset += y.channels
        }
        Tensor.copyChannels(from: last, into: &joined, channelOffset: offset)
        return joined
    }
}
