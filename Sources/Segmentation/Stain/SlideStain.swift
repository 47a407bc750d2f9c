import Core
import Tiling

/// Stain normalisation of a whole slide: its own stains estimated once, from a fixed sample
/// of its pixels, then every tile moved from them to the reference's. Tiles of one slide are
/// then normalised alike, however little tissue or however much of one stain each holds,
/// where estimating tile by tile (a member's `stain`) lets each tile's estimate wander.
/// `infer` and the coordinator apply it as tiles are read, so every member sees the same.
public struct SlideStain: Sendable, Equatable {
    public let normaliser: StainNormaliser
    /// The slide's own stains, as a normaliser of the same method holds a reference's: nil
    /// when the sample has too little tissue to estimate them (tiles then pass unchanged).
    public let source: StainNormaliser?

    /// At most this many pixels are sampled.
    public static let samplePixels = 1 << 20

    /// Estimates the slide's stains from every `step`-th pixel of every `step`-th row, the
    /// step the smallest that keeps the sample within `samplePixels`. Reinhard takes the
    /// sampled pixels that are tissue (HSV saturation above 20/255, as tissue detection);
    /// Macenko its own stained pixels (OD ≥ β in every channel).
    public init(estimating reader: SlideReader, normaliser: StainNormaliser) throws {
        self.normaliser = normaliser
        source = try Self.estimate(reader, like: normaliser)
    }

    /// The stains of the slide `reader` reads, as a normaliser like `normaliser` holds a
    /// reference's (what `tessera stain fit --slide` writes); nil with too little tissue.
    public static func estimate(_ reader: SlideReader, like normaliser: StainNormaliser) throws -> StainNormaliser? {
        let sample = try Self.sample(reader)
        switch normaliser {
        case .macenko(let reference):
            return reference.estimate(sample).map { estimate in
                var own = reference
                own.stains = estimate.stains
                own.maxConcentrations = estimate.maxConcentrations
                return .macenko(own)
            }
        case .reinhard:
            let tissue = Self.tissue(sample)
            guard tissue.width >= 16 else { return nil }
            let (means, deviations) = ReinhardStain.statistics(ReinhardStain.lab(tissue))
            return deviations.allSatisfy({ $0 > 0 }) ? .reinhard(ReinhardStain(means: means, deviations: deviations)) : nil
        }
    }

    /// `tile` moved from the slide's stains to the reference's.
    public func normalise(_ tile: PixelImage) -> PixelImage {
        switch (normaliser, source) {
        case (.macenko(let reference), .macenko(let own)?): reference.normalise(tile, source: own)
        case (.reinhard(let reference), .reinhard(let own)?): reference.normalise(tile, source: own)
        default: tile
        }
    }

    /// The sampled pixels, as one row.
    static func sample(_ reader: SlideReader) throws -> PixelImage {
        let (width, height) = (reader.width, reader.height)
        var step = 1
        while ((width + step - 1) / step) * ((height + step - 1) / step) > samplePixels { step += 1 }
        var pixels: [UInt8] = []
        for y in stride(from: 0, to: height, by: step) {
            let row = try reader.readRGB(x: 0, y: y, width: width, height: 1).pixels
            for x in stride(from: 0, to: width, by: step) { pixels += row[(3 * x)..<(3 * x + 3)] }
        }
        return PixelImage(width: pixels.count / 3, height: 1, channels: 3, pixels: pixels)
    }

    /// The pixels of `sample` that are tissue, as tissue detection tells by default: HSV
    /// saturation above 20/255.
    static func tissue(_ sample: PixelImage) -> PixelImage {
        let kept = tissueOffsets(sample).flatMap { sample.pixels[$0..<($0 + 3)] }
        return PixelImage(width: kept.count / 3, height: 1, channels: 3, pixels: kept)
    }

    /// The byte offsets of the pixels of `sample` that are tissue.
    static func tissueOffsets(_ sample: PixelImage) -> [Int] {
        stride(from: 0, to: sample.pixels.count, by: 3).filter { p in
            TissueMap.saturation(Int(sample.pixels[p]), Int(sample.pixels[p + 1]), Int(sample.pixels[p + 2])) > 20
        }
    }
}
