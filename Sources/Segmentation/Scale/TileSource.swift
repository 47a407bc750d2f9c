import Tiling

/// Where a job's tiles are read and at what pixel size: the full-resolution slide, or the
/// coarsest pyramid level still at least as fine as every member, which is faster to
/// read, send and shrink (the seed's reduce-by-4 tiles, read ready-made).
public struct TileSource: Sendable, Equatable {
    /// Full-resolution pixels per pixel read.
    public var downsample: Int
    /// µm per full-resolution pixel (the slide's, or the one given for it); nil when unknown.
    public var slidePixelSize: Double?

    public init(downsample: Int = 1, slidePixelSize: Double?) {
        self.downsample = downsample
        self.slidePixelSize = slidePixelSize
    }

    /// µm per pixel of the tiles as read.
    public var tilePixelSize: Double? { slidePixelSize.map { $0 * Double(downsample) } }

    /// The source for members at `memberPixelSizes` (nil: at the slide's own): the coarsest of
    /// `levels` whose pixels are no larger than any member's (to 0.1 %, for rounded MPPs),
    /// whose factor divides the plan's tile, stride and margin. The full-resolution slide
    /// when `useLevels` is off, a member has no pixel size or the slide's is unknown.
    public static func choose(
        levels: [SlideLevel], slidePixelSize: Double?, memberPixelSizes: [Double?], plan: TilePlan,
        useLevels: Bool
    ) -> TileSource {
        let full = TileSource(slidePixelSize: slidePixelSize)
        guard useLevels, let slidePixelSize, !memberPixelSizes.isEmpty else { return full }
        let sizes = memberPixelSizes.compactMap { $0 }
        guard sizes.count == memberPixelSizes.count, let finest = sizes.min() else { return full }
        let fitting = levels.filter { level in
            let d = level.downsample
            return Double(d) * slidePixelSize <= finest * 1.001
                && plan.tileSize % d == 0 && plan.stride % d == 0 && plan.margin % d == 0
        }
        return TileSource(downsample: fitting.map(\.downsample).max() ?? 1, slidePixelSize: slidePixelSize)
    }
}
