import Core
import Tiling

/// Which of a slide's tiles are over glass alone, and so not predicted: none, those a
/// `TissueMap` listed before any tile was read, or those a `TissueProbe` finds as tiles are
/// read. Each thread reading tiles takes a copy and reads its tiles through it.
public enum TissueFilter: Sendable {
    /// Every tile is predicted.
    case off
    /// The tiles (row × columns + column) a pass over the whole slide found over glass.
    case listed(Set<Int>)
    /// Tiles judged as they are read, from the slide at full resolution.
    case probed(TissueProbe)

    /// The filter `detection` calls for on the slide `reader` serves, whose tiles are read
    /// at `downsample`: a probe when tiles come from the slide itself and the method judges
    /// blocks one by one; else a pass over the whole slide now.
    public static func choose(_ detection: TissueDetection, reader: SlideReader, plan: TilePlan, downsample: Int) throws -> TissueFilter {
        if downsample == 1, let probe = TissueProbe(detection, slideWidth: reader.width, slideHeight: reader.height) { return .probed(probe) }
        guard let map = try TissueMap.detect(reader, detection) else { return .off }
        return .listed(map.skipped(in: plan))
    }

    /// The tiles over glass, when known before any tile is read.
    public var listed: Set<Int>? {
        switch self {
        case .off: []
        case .listed(let tiles): tiles
        case .probed: nil
        }
    }

    /// Pixels beyond a tile's extent, each way, that `read` may read besides the tile.
    public var reach: Int {
        if case .probed(let probe) = self { probe.reach } else { 0 }
    }

    /// `tile` as read from `reader`, or nil when it is over glass alone (a listed tile is
    /// not read at all).
    public mutating func read(_ tile: TileIndex, of plan: TilePlan, from reader: SlideReader) throws -> PixelImage? {
        switch self {
        case .off:
            return try reader.readTile(tile, of: plan)
        case .listed(let tiles):
            return tiles.contains(tile.row * plan.columns + tile.column) ? nil : try reader.readTile(tile, of: plan)
        case .probed(var probe):
            // Out of `self` while it measures, so its block verdicts are not copied.
            self = .off
            defer { self = .probed(probe) }
            let pixels = try reader.readTile(tile, of: plan)
            return try probe.isGlass(tile, of: plan, pixels: pixels, in: reader) ? nil : pixels
        }
    }
}
