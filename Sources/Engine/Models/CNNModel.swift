import Core
import OpenBLAS

/// A trained U-Net as an ensemble member: normalises the tile, runs the network, and turns
/// logits into probabilities with a sigmoid.
///
/// A model computes one tile at a time (a worker's compute thread, or `infer`'s loop), and
/// spreads each tile over `setThreads` threads itself; its layers keep lazily built state
/// (Winograd filters), so it must not be called from two threads at once.
public final class CNNModel: TilePredictor {
    public let name: String
    public let network: SegmentationNetwork
    /// Per-channel normalisation of pixel values in [0, 1]: (v − mean) / std.
    public let mean: [Float]
    public let std: [Float]

    /// The HuBMAP fast.ai starter's statistics of kidney slides, its notebooks' default.
    public static let hubmapMean: [Float] = [0.65459856, 0.48386562, 0.69428385]
    public static let hubmapStd: [Float] = [0.15167958, 0.23584107, 0.13146145]

    /// The architectures, by the names configurations use.
    public static let architectures = EfficientNetVariant.all.map { "effunet-\($0.name)" } + ["unext50"]

    public init(architecture: String, weights: WeightSource, mean: [Float] = hubmapMean, std: [Float] = hubmapStd) throws {
        name = architecture
        self.mean = mean
        self.std = std
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw TesseraError(architecture, "mean and std need three values each, std positive")
        }
        network = try Self.network(architecture, weights: weights)
    }

    /// The network of `architecture` with its parameters from `weights`.
    public static func network(_ architecture: String, weights: WeightSource) throws -> SegmentationNetwork {
        HeapRetention.enableOnce()
        BLAS.threadCount = 1
        if architecture == "unext50" { return try UneXt50(weights: weights) }
        if architecture.hasPrefix("effunet-"), let variant = EfficientNetVariant.named(String(architecture.dropFirst(8))) {
            return try EffUnet(variant: variant, weights: weights)
        }
        throw TesseraError(architecture, "unknown CNN architecture (known: \(architectures.joined(separator: ", ")))")
    }

    /// Keys a checkpoint of `architecture` may hold that the network never uses.
    public static func unusedKeys(_ architecture: String) -> Set<String> {
        architecture == "unext50" ? UneXt50.unusedKeys : EffUnet.unusedKeys
    }

    /// Those keys with the shapes the PyTorch module (`tools/seed_models.py`) gives them: the
    /// seed's ASPP declares a 1×1 `conv1` it never calls, and EfficientNet keeps its
    /// classification head (`_conv_head`, `_bn1`, `_fc`). Files Tessera writes hold them
    /// too, so that `load_state_dict(strict=True)` takes them.
    public static func unusedParameterShapes(_ architecture: String) -> [(key: String, shape: [Int])] {
        // ASPP: mid 256 channels, 4 dilations and the pooled branch and the 1×1 branch.
        if architecture == "unext50" { return [("aspp.conv1.weight", [512, 256 * 6, 1, 1])] }
        guard architecture.hasPrefix("effunet-"), let variant = EfficientNetVariant.named(String(architecture.dropFirst(8))) else { return [] }
        let head = variant.filters(1280), last = variant.featureChannels[4]
        return [("aspp.conv1.weight", [384, 256 * 6, 1, 1]), ("encoder._conv_head.weight", [head, last, 1, 1])]
            + ["weight", "bias", "running_mean", "running_var"].map { ("encoder._bn1." + $0, [head]) }
            + [("encoder._fc.weight", [1000, head]), ("encoder._fc.bias", [1000])]
    }

    /// Every state_dict key `architecture` loads, with its shape, in loading order.
    public static func parameterShapes(_ architecture: String) throws -> [(key: String, shape: [Int])] {
        let recorder = ShapeRecorder()
        _ = try network(architecture, weights: recorder)
        return recorder.order
    }

    /// The network's total stride: every resolution it halves to must be whole.
    public var tileMultiple: Int { network.alignment }

    public func predict(_ tile: PixelImage) throws -> [Float] {
        let input = Tensor(rgb: tile.pixels, width: tile.width, height: tile.height, mean: mean, std: std)
        var output = network.logits(input)
        Activation.sigmoid.apply(&output)
        return output.data
    }

    /// Threads the engine uses for this process's models. OpenBLAS itself stays at one
    /// thread (set when a network is built): the engine cuts every convolution into tasks
    /// (see `Parallel`).
    public static func setThreads(_ count: Int) { Parallel.threads = max(1, count) }
}

/// A weight source that only notes which keys a model asks for, answering with harmless
/// values (unit variances and gains, so weight norm and batch norm stay finite).
private final class ShapeRecorder: WeightSource {
    private(set) var order: [(key: String, shape: [Int])] = []

    func take(_ key: String, shape: [Int]) throws -> [Float] {
        order.append((key, shape))
        return [Float](repeating: key.hasSuffix("running_var") || key.hasSuffix("weight_g") ? 1 : 0, count: shape.reduce(1, *))
    }

    func finish(ignoring: Set<String>) throws {}
}
