import Core

/// What segmenting one slide needs, set up the one way `infer` and the coordinator both
/// use: the slide, its tile plan, the stitcher that blends the members' maps, and the mask
/// (and probability map) it writes, and the tiles over glass that are not predicted.
public struct SlidePipeline {
    public let reader: SlideReader
    public let plan: TilePlan
    public let stitcher: Stitcher
    public let output: SegmentationOutput
    /// The tiles (row × columns + column) over glass alone, which are not predicted.
    public let skipped: Set<Int>

    public init(slidePath: String, settings: SegmentationSettings, memberWeights: [Int], maskPath: String,
                probabilityPath: String? = nil) throws {
        reader = try SlideReader(path: slidePath)
        plan = try settings.plan(width: reader.width, height: reader.height)
        stitcher = try Stitcher(plan: plan, window: settings.window, memberWeights: memberWeights)
        output = try SegmentationOutput(width: reader.width, height: reader.height, threshold: settings.threshold,
                                        maskPath: maskPath, probabilityPath: probabilityPath,
                                        micronsPerPixel: reader.image.micronsPerPixel, cleanup: settings.cleanup)
        skipped = try TissueMap.detect(reader, settings.tissue)?.skipped(in: plan) ?? []
    }

    public func skips(_ tile: TileIndex) -> Bool { skipped.contains(tile.row * plan.columns + tile.column) }
}
