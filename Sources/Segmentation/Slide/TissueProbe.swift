import Core
import Tiling

/// Tissue found tile by tile, from the slide blocks the tile reader decodes anyway.
///
/// The `saturation` method judges each `scale`-pixel block of the slide by its own pixels,
/// so a tile's verdict needs only the blocks it overlaps and the `margin` blocks around
/// them: the skips are exactly those of `TissueMap.detect` with `TissueMap.skipped`, without
/// a pass over the whole slide before the first tile (on a compressed slide, a second
/// decoding of every pixel). Each block is measured at most once per probe, and whole, so
/// the verdicts do not depend on the order tiles are asked in nor on how many probes share
/// a slide (one per reading thread).
public struct TissueProbe: Sendable {
    private let limit: Int
    private let scale: Int
    private let margin: Int
    /// The slide's size, and its blocks across and down.
    private let slideWidth: Int, slideHeight: Int
    private let width: Int, height: Int
    /// Per block: 0 not measured yet, 1 glass, 2 tissue.
    private var blocks: [UInt8]

    /// A probe for `detection` on a slide of this size; nil unless its method is `saturation`
    /// (Otsu's threshold depends on every block of the slide).
    public init?(_ detection: TissueDetection, slideWidth: Int, slideHeight: Int) {
        guard detection.method == .saturation else { return nil }
        limit = TissueMap.saturationLimit(detection)
        scale = max(1, detection.scale)
        margin = max(0, detection.margin)
        self.slideWidth = slideWidth
        self.slideHeight = slideHeight
        width = (slideWidth + scale - 1) / scale
        height = (slideHeight + scale - 1) / scale
        blocks = [UInt8](repeating: 0, count: width * height)
    }

    /// Slide pixels beyond a tile's extent, each way, that `isGlass` reads.
    public var reach: Int { (margin + 1) * scale }

    /// Whether no block that `tile` overlaps, margin included, holds tissue; measures the
    /// blocks it needs from `reader` (the slide at full resolution).
    public mutating func isGlass(_ tile: TileIndex, of plan: TilePlan, in reader: SlideReader) throws -> Bool {
        precondition(plan.imageWidth == slideWidth && plan.imageHeight == slideHeight && reader.width == slideWidth)
        let (x, y) = plan.origin(of: tile)
        let x0 = max(0, x) / scale, y0 = max(0, y) / scale
        let x1 = min(slideWidth - 1, x + plan.tileSize - 1) / scale, y1 = min(slideHeight - 1, y + plan.tileSize - 1) / scale
        guard x0 <= x1, y0 <= y1 else { return true }
        let columns = max(0, x0 - margin)...min(width - 1, x1 + margin), rows = max(0, y0 - margin)...min(height - 1, y1 + margin)
        // Blocks measured already decide it when one is tissue; else measure the others.
        var (left, right, top, bottom) = (Int.max, Int.min, Int.max, Int.min)
        for by in rows {
            for bx in columns {
                switch blocks[by * width + bx] {
                case 2: return false
                case 0: (left, right, top, bottom) = (min(left, bx), max(right, bx), min(top, by), max(bottom, by))
                default: continue
                }
            }
        }
        guard left <= right else { return true }
        try measure(left...right, top...bottom, from: reader)
        for by in rows {
            for bx in columns where blocks[by * width + bx] == 2 { return false }
        }
        return true
    }

    /// Measures the blocks of `columns` × `rows` not measured yet, reading them in one rectangle.
    private mutating func measure(_ columns: ClosedRange<Int>, _ rows: ClosedRange<Int>, from reader: SlideReader) throws {
        let left = columns.lowerBound * scale, top = rows.lowerBound * scale
        let right = min(slideWidth, (columns.upperBound + 1) * scale), bottom = min(slideHeight, (rows.upperBound + 1) * scale)
        let region = try reader.readRGB(x: left, y: top, width: right - left, height: bottom - top)
        let rowBytes = (right - left) * 3
        region.pixels.withUnsafeBufferPointer { pixels in
            for by in rows {
                let blockRows = (by * scale)..<min((by + 1) * scale, slideHeight)
                for bx in columns where blocks[by * width + bx] == 0 {
                    let blockColumns = (bx * scale - left)..<(min((bx + 1) * scale, slideWidth) - left)
                    var stained = 0
                    for row in blockRows {
                        let line = UnsafeBufferPointer(rebasing: pixels[((row - top) * rowBytes)..<((row - top + 1) * rowBytes)])
                        stained += TissueMap.stainedCount(line, blockColumns, above: limit)
                    }
                    let fraction = Double(stained) / Double(blockRows.count * blockColumns.count)
                    blocks[by * width + bx] = TissueMap.isStained(fraction) ? 2 : 1
                }
            }
        }
    }
}
