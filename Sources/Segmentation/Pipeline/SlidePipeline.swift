import Core
import Tiling

/// What segmenting one slide needs, set up the one way `infer` and the coordinator both
/// use: the slide, its tile plan, the stitcher that blends the members' maps, and the mask
/// (and probability map) it writes, and the tiles over glass that are not predicted.
public struct SlidePipeline {
    public let reader: SlideReader
    public let plan: TilePlan
    public let stitcher: Stitcher
    public let output: SegmentationOutput
    /// How tiles over glass alone, which are not predicted, are told.
    public let tissue: TissueFilter
    /// The level tiles are read from, and the pixel size they are read at.
    public let source: TileSource
    /// The slide's stain normalisation, applied to every tile as it is read (`tile(_:of:)`).
    public let stain: SlideStain?

    /// `memberPixelSizes`: the µm per pixel each member was trained at (nil: the slide's).
    public init(
        slidePath: String, settings: SegmentationSettings, memberWeights: [Int], memberPixelSizes: [Double?]? = nil,
        maskPath: String, probabilityPath: String? = nil
    ) throws {
        reader = try SlideReader(path: slidePath, backend: settings.reader)
        plan = try settings.plan(width: reader.width, height: reader.height)
        let pixelSize = settings.pixelSize ?? reader.micronsPerPixel
        source = TileSource.choose(
            levels: reader.levels, slidePixelSize: pixelSize,
            memberPixelSizes: memberPixelSizes ?? memberWeights.map { _ in nil }, plan: plan, useLevels: settings.useLevels)
        if pixelSize == nil, let declared = memberPixelSizes?.compactMap({ $0 }).first {
            throw TesseraError(
                slidePath, "its pixel size is unknown and a member is declared at \(declared) µm/pixel: give the slide's (--pixel-size)", code: .mismatch)
        }
        stitcher = try Stitcher(plan: plan, window: settings.window, memberWeights: memberWeights)
        output = try SegmentationOutput(
            width: reader.width, height: reader.height, threshold: settings.threshold,
            maskPath: maskPath, probabilityPath: probabilityPath,
            micronsPerPixel: pixelSize, cleanup: settings.cleanup)
        tissue = try TissueFilter.choose(settings.tissue, reader: reader, plan: plan, downsample: source.downsample)
        if let method = settings.slideStain {
            stain = try SlideStain(estimating: reader, normaliser: try StainNormaliser.named(method, reference: settings.slideStainReference))
        } else {
            stain = nil
        }
    }

    /// Tile `tile` of `plan` read from `reader` (the tile source's level) and normalised by
    /// `stain`, as every member sees it.
    public static func tile(_ tile: TileIndex, of plan: TilePlan, from reader: SlideReader, stain: SlideStain?) throws -> PixelImage {
        let pixels = try reader.readTile(tile, of: plan)
        return stain?.normalise(pixels) ?? pixels
    }

    /// Tile `tile` of `plan` read from `reader` and normalised by `stain`, or nil when
    /// `tissue` finds it over glass alone: what every reader of a job's tiles calls, in
    /// `infer` and on the coordinator's reader threads, each with its own `tissue`.
    public static func tile(
        _ tile: TileIndex, of plan: TilePlan, from reader: SlideReader, stain: SlideStain?, tissue: inout TissueFilter
    ) throws -> PixelImage? {
        try tissue.read(tile, of: plan, from: reader).map { stain?.normalise($0) ?? $0 }
    }

    /// A reader of the level tiles come from (each thread needs its own).
    public func tileReader(cacheBytes: Int = 64 << 20) throws -> SlideReader {
        source.downsample == 1
            ? reader
            : try SlideReader(path: reader.path, cacheBytes: cacheBytes, downsample: source.downsample, backend: reader.backend)
    }
}
