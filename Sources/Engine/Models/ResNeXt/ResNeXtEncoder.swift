/// torchvision's resnext50_32x4d as the UneXt50 encoder slices it: enc0 = conv1 + bn1 +
/// ReLU (/2, 64), enc1 = max pool + layer1 (/4, 256), enc2…enc4 = layer2…layer4
/// (/8 512, /16 1024, /32 2048). Bottlenecks put the stride on the grouped 3×3 (32 groups
/// of width 4 × planes / 64), as torchvision does.
final class ResNeXtEncoder {
    private let stem: Conv2d
    private let layers: [[Bottleneck]]

    init(weights: WeightSource) throws {
        stem = try ParameterLoading.convBatchNorm(
            weights, conv: "enc0.0", norm: "enc0.1", input: 3, output: 64, kernel: 7,
            stride: 2, padding: 3, activation: .relu)
        var layers: [[Bottleneck]] = []
        var input = 64
        for (index, (planes, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].enumerated() {
            let prefix = index == 0 ? "enc1.1." : "enc\(index + 1)."
            var layer: [Bottleneck] = []
            for block in 0..<blocks {
                let stride = block == 0 && index > 0 ? 2 : 1
                layer.append(
                    try Bottleneck(
                        weights: weights, prefix: prefix + "\(block).", input: input, planes: planes,
                        stride: stride, downsample: block == 0))
                input = planes * 4
            }
            layers.append(layer)
        }
        self.layers = layers
    }

    /// enc0 … enc4.
    func features(_ x: Tensor) -> [Tensor] {
        let enc0 = stem(x)
        var features = [enc0]
        var y = Pooling.max(enc0, kernel: 3, stride: 2, padding: 1)
        for layer in layers {
            for block in layer { y = block(y) }
            features.append(y)
        }
        return features
    }
}

/// ResNeXt bottleneck: 1×1 → grouped 3×3 (stride) → 1×1, batch norms folded, ReLU between,
/// plus the (downsampled) input, ReLU.
final class Bottleneck {
    private let conv1: Conv2d
    private let conv2: Conv2d
    private let conv3: Conv2d
    private let downsample: Conv2d?

    init(weights: WeightSource, prefix: String, input: Int, planes: Int, stride: Int, downsample: Bool) throws {
        let width = planes * 4 / 64 * 32
        conv1 = try ParameterLoading.convBatchNorm(
            weights, conv: prefix + "conv1", norm: prefix + "bn1", input: input, output: width,
            kernel: 1, activation: .relu)
        conv2 = try ParameterLoading.convBatchNorm(
            weights, conv: prefix + "conv2", norm: prefix + "bn2", input: width, output: width,
            kernel: 3, stride: stride, padding: 1, groups: 32, activation: .relu)
        conv3 = try ParameterLoading.convBatchNorm(
            weights, conv: prefix + "conv3", norm: prefix + "bn3", input: width, output: planes * 4,
            kernel: 1, activation: .identity)
        self.downsample =
            downsample
            ? try ParameterLoading.convBatchNorm(
                weights, conv: prefix + "downsample.0", norm: prefix + "downsample.1", input: input,
                output: planes * 4, kernel: 1, stride: stride, activation: .identity)
            : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        conv3(conv2(conv1(x)), adding: downsample.map { $0(x) } ?? x, then: .relu)
    }
}
