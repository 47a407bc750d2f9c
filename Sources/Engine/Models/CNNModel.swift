import Core
import OpenBLAS

/// A trained U-Net as an ensemble member: normalises the tile, runs the network, and turns
/// logits into probabilities with a sigmoid.
///
/// A model computes one tile at a time (a worker's compute thread, or `infer`'s loop), and
/// spreads each tile over `setThreads` threads itself; its layers keep lazily built state
/// (packed weights, Winograd filters), so it must not be called from two threads at once.
public final class CNNModel: TilePredictor {
    public let name: String
    public let architecture: Architecture
    public let network: InferenceNetwork
    /// Per-channel normalisation of pixel values in [0, 1]: (v − mean) / std.
    public let mean: [Float]
    public let std: [Float]

    /// The HuBMAP fast.ai starter's statistics of kidney slides, its notebooks' default.
    public static let hubmapMean: [Float] = [0.65459856, 0.48386562, 0.69428385]
    public static let hubmapStd: [Float] = [0.15167958, 0.23584107, 0.13146145]

    /// The architectures, by the names configurations use.
    public static var architectures: [String] { Architecture.names }

    public convenience init(architecture: String, weights: WeightSource, mean: [Float] = hubmapMean, std: [Float] = hubmapStd) throws {
        try self.init(try Architecture(named: architecture), weights: weights, mean: mean, std: std)
    }

    public init(_ architecture: Architecture, weights: WeightSource, mean: [Float] = hubmapMean, std: [Float] = hubmapStd) throws {
        name = architecture.name
        self.architecture = architecture
        self.mean = mean
        self.std = std
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }) else {
            throw TesseraError(architecture.name, "mean and std need three values each, std positive")
        }
        network = try Self.network(architecture, weights: weights)
    }

    /// The network of `architecture` with its parameters from `weights`.
    public static func network(_ architecture: Architecture, weights: WeightSource) throws -> InferenceNetwork {
        HeapRetention.enableOnce()
        BLAS.threadCount = 1
        return try InferenceNetwork(architecture.definition(), weights: weights, ignoring: architecture.unusedKeys)
    }

    /// The network called `architecture` with its parameters from `weights`.
    public static func network(_ architecture: String, weights: WeightSource) throws -> InferenceNetwork {
        try network(try Architecture(named: architecture), weights: weights)
    }

    /// The network's total stride: every resolution it halves to must be whole.
    public var tileMultiple: Int { architecture.alignment }

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
