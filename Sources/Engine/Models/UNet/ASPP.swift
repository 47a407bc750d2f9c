/// Atrous spatial pyramid pooling as the HuBMAP starter defines it: a 1×1 branch, 3×3
/// branches dilated by each of `dilations` (groups = 4), and a global branch
/// (AdaptiveMaxPool → 1×1 → BN → ReLU, upsampled with align_corners = true); all
/// concatenated (global first) → 1×1 → BN → ReLU. Its unused `conv1` is not loaded.
final class ASPP {
    private let branches: [Conv2d]
    private let global: Conv2d
    private let output: Conv2d

    /// Keys the starter's ASPP holds but never uses.
    static func ignoredKeys(_ prefix: String) -> Set<String> { [prefix + "conv1.weight"] }

    init(weights: WeightSource, prefix: String, input: Int, middle: Int, output: Int, dilations: [Int]) throws {
        var branches = [
            try ParameterLoading.convBatchNorm(
                weights, conv: prefix + "aspps.0.atrous_conv", norm: prefix + "aspps.0.bn",
                input: input, output: middle, kernel: 1, activation: .relu)
        ]
        for (index, d) in dilations.enumerated() {
            let name = prefix + "aspps.\(index + 1)."
            branches.append(
                try ParameterLoading.convBatchNorm(
                    weights, conv: name + "atrous_conv", norm: name + "bn", input: input,
                    output: middle, kernel: 3, padding: d, dilation: d, groups: 4, activation: .relu))
        }
        self.branches = branches
        global = try ParameterLoading.convBatchNorm(
            weights, conv: prefix + "global_pool.1", norm: prefix + "global_pool.2",
            input: input, output: middle, kernel: 1, activation: .relu)
        self.output = try ParameterLoading.convBatchNorm(
            weights, conv: prefix + "out_conv.0", norm: prefix + "out_conv.1",
            input: middle * (2 + dilations.count), output: output, kernel: 1, activation: .relu)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let pooled = Tensor(channels: x.channels, height: 1, width: 1, data: Pooling.globalMax(x))
        let g = Resampling.bilinear(global(pooled), height: x.height, width: x.width, alignCorners: true)
        return output(Tensor.concatenate([g] + branches.map { $0(x) }))
    }
}
