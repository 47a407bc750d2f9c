import Core
import Engine
import Foundation

/// The training tiles of some slides, read on demand (a slide is never in memory whole),
/// and the batches made of them: balanced by masked fraction, augmented with seeded
/// flips, rotations, shift-scale-rotate and colour jitter. Every batch is a function of
/// (seed, step) alone, so a resumed run or another worker draws exactly the same one.
public final class TileDataset {
    public struct Settings: Sendable, Equatable {
        public var tile = 256
        public var scale = 2
        /// Lower edges of the masked-fraction bins the sampler balances.
        public var binEdges: [Double] = [0, 1e-9, 0.1, 0.4]
        public var augment = true
        /// HED stain jitter's σ (`HEDJitter`) after the colour jitter; nil for none.
        public var hedJitter: Double?
        public init() {}
    }

    public let settings: Settings
    private let cutters: [TileCutter]
    /// Every kept tile: its slide and corner.
    public let tiles: [(slide: Int, tile: TileCutter.Tile)]
    private let sampler: BalancedSampler
    public let seed: UInt64
    public let mean: [Float], std: [Float]

    public init(
        slides: [TrainingSet.Slide], settings: Settings, seed: UInt64, mean: [Float] = CNNModel.hubmapMean,
        std: [Float] = CNNModel.hubmapStd
    ) throws {
        self.settings = settings
        self.seed = seed
        self.mean = mean
        self.std = std
        cutters = try slides.map { try TileCutter(slidePath: $0.imagePath, mask: $0.mask, tile: settings.tile, scale: settings.scale) }
        tiles = cutters.enumerated().flatMap { index, cutter in cutter.tiles.map { (index, $0) } }
        guard !tiles.isEmpty else {
            throw TesseraError(
                "training data", "no tissue tiles of \(settings.tile) px at scale \(settings.scale) in \(slides.map(\.id).joined(separator: ", "))")
        }
        sampler = try BalancedSampler(fractions: tiles.map(\.tile.maskedFraction), edges: settings.binEdges, seed: seed)
        let sizes = zip(slides, cutters).map { $0.pixelSize ?? $1.slidePixelSize }
        if let first = sizes.first ?? nil, sizes.allSatisfy({ $0.map { abs($0 - first) <= 0.005 * first } ?? false }) {
            pixelSize = first * Double(settings.scale)
        } else {
            pixelSize = nil
        }
    }

    /// µm per pixel of the tiles the model learns from: the slides' (when they all say, and
    /// agree to 0.5 %) times the scale. Written into the model file as its `pixel_size`.
    public let pixelSize: Double?

    /// Sample `slot` of step `step`'s batch: its image (normalised) and its 0/1 mask.
    public func sample(step: Int, slot: Int) throws -> (image: Tensor, mask: [Float]) {
        try item(sampler.tile(step: step, slot: slot), augmentation: augmentationSeed(step: step, slot: slot))
    }

    /// The whole batch of step `step`.
    public func batch(step: Int, size: Int) throws -> (images: [Tensor], masks: [[Float]]) {
        let samples = try (0..<size).map { try sample(step: step, slot: $0) }
        return (samples.map(\.image), samples.map(\.mask))
    }

    /// Tile `index` as a tensor and mask, augmented when a seed is given.
    public func item(_ index: Int, augmentation: UInt64?) throws -> (image: Tensor, mask: [Float]) {
        let (slide, tile) = tiles[index]
        var (image, mask) = try cutters[slide].read(x: tile.x, y: tile.y)
        if let augmentation, settings.augment {
            var random = SplitMix64(seed: augmentation)
            let dihedral = Dihedral.random(&random)
            (image, mask) = (dihedral.apply(image), dihedral.apply(mask))
            (image, mask) = ShiftScaleRotate.random(&random).apply(image: image, mask: mask)
            image = ColourJitter.random(&random).apply(image)
            if let sigma = settings.hedJitter, sigma > 0 { image = HEDJitter.random(sigma: sigma, &random).apply(image) }
        }
        return (Tensor(rgb: image.pixels, width: image.width, height: image.height, mean: mean, std: std), mask.pixels.map { $0 > 0 ? 1 : 0 })
    }

    private func augmentationSeed(step: Int, slot: Int) -> UInt64 {
        SplitMix64.finalize(seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(truncatingIfNeeded: step + 1) &+ UInt64(truncatingIfNeeded: slot) &* 0x2545_F491_4F6C_DD1D)
    }
}
