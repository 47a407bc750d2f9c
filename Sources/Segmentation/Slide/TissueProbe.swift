import Core
import Tiling

/// Tissue found tile by tile, from the slide blocks the tile reader decodes anyway.
///
/// The `saturation` method judges each `scale`-pixel block of the slide by its own pixels,
/// so a tile's verdict needs only the blocks it overlaps and the `margin` blocks around
/// them: the skips are exactly those of `TissueMap.detect` with `TissueMap.skipped`, without
/// a pass over the whole slide before the first tile (on a compressed slide, a second
/// decoding of every pixel). A tile holds tissue as soon as one of those blocks does, so
/// blocks are measured only until one is found, first from the tile's own pixels. Each
/// block's verdict depends on its pixels alone, so the tiles' verdicts do not depend on
/// the order they are asked in nor on how many probes share a slide (one a reading thread).
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

    /// Slide pixels beyond a tile's extent, each way, that `isGlass` may read.
    public var reach: Int { (margin + 1) * scale }

    /// Whether no block that `tile` overlaps, margin included, holds tissue. `pixels` is the
    /// tile as read from the slide at full resolution (`SlideReader.readTile`), if it was;
    /// blocks it does not hold are read from `reader`.
    public mutating func isGlass(_ tile: TileIndex, of plan: TilePlan, pixels: PixelImage?, in reader: SlideReader) throws -> Bool {
        precondition(plan.imageWidth == slideWidth && plan.imageHeight == slideHeight && reader.width == slideWidth)
        guard let (columns, rows) = TissueMap.blocks(of: tile, in: plan, scale: scale, margin: margin, width: width, height: height) else {
            return true
        }
        let (x, y) = plan.origin(of: tile)
        // Blocks measured already decide it when one is tissue.
        for by in rows {
            for bx in columns where blocks[by * width + bx] == 2 { return false }
        }
        // Then the blocks the tile's pixels hold whole.
        if let pixels {
            precondition(pixels.width == plan.tileSize && pixels.height == plan.tileSize && pixels.channels == 3)
            let (scale, side) = (scale, plan.tileSize)
            let inside = { (b: Int, origin: Int, size: Int) in b * scale >= origin && min((b + 1) * scale, size) <= origin + side }
            let found = pixels.pixels.withUnsafeBufferPointer { p in
                for by in rows where inside(by, y, slideHeight) {
                    for bx in columns where blocks[by * width + bx] == 0 && inside(bx, x, slideWidth) {
                        if measure(bx, by, in: p, left: x, top: y, rowPixels: plan.tileSize) { return true }
                    }
                }
                return false
            }
            if found { return false }
        }
        // Then the others, a rectangle at a time: for a tile over glass, the ring of margin
        // blocks around it, in four thin reads rather than the tile again.
        for (blockColumns, blockRows) in unmeasured(columns, rows) {
            let (originX, originY) = (blockColumns.lowerBound * scale, blockRows.lowerBound * scale)
            let region = try reader.readRGB(
                x: originX, y: originY, width: min(slideWidth, (blockColumns.upperBound + 1) * scale) - originX,
                height: min(slideHeight, (blockRows.upperBound + 1) * scale) - originY)
            let found = region.pixels.withUnsafeBufferPointer { p in
                for by in blockRows {
                    for bx in blockColumns where measure(bx, by, in: p, left: originX, top: originY, rowPixels: region.width) { return true }
                }
                return false
            }
            if found { return false }
        }
        return true
    }

    /// The blocks of `columns` × `rows` not measured yet, as rectangles: each row's runs of
    /// them, a run joined to the same run of the rows above.
    private func unmeasured(_ columns: ClosedRange<Int>, _ rows: ClosedRange<Int>) -> [(ClosedRange<Int>, ClosedRange<Int>)] {
        var closed: [(ClosedRange<Int>, ClosedRange<Int>)] = [], open: [(ClosedRange<Int>, ClosedRange<Int>)] = []
        for by in rows {
            var runs: [ClosedRange<Int>] = []
            var bx = columns.lowerBound
            while bx <= columns.upperBound {
                guard blocks[by * width + bx] == 0 else { bx += 1; continue }
                let first = bx
                while bx + 1 <= columns.upperBound && blocks[by * width + bx + 1] == 0 { bx += 1 }
                runs.append(first...bx)
                bx += 1
            }
            var growing: [(ClosedRange<Int>, ClosedRange<Int>)] = []
            for run in runs {
                if let index = open.firstIndex(where: { $0.0 == run }) {
                    growing.append((run, open.remove(at: index).1.lowerBound...by))
                } else {
                    growing.append((run, by...by))
                }
            }
            closed += open
            open = growing
        }
        return closed + open
    }

    /// Measures block (bx, by) from `pixels`, RGB rows of `rowPixels` pixels whose first is
    /// slide pixel (left, top); records and returns whether it holds tissue.
    private mutating func measure(_ bx: Int, _ by: Int, in pixels: UnsafeBufferPointer<UInt8>, left: Int, top: Int, rowPixels: Int) -> Bool {
        let blockRows = (by * scale)..<min((by + 1) * scale, slideHeight)
        let blockColumns = (bx * scale - left)..<(min((bx + 1) * scale, slideWidth) - left)
        var stained = 0
        for row in blockRows {
            let start = (row - top) * rowPixels * 3
            stained += TissueMap.stainedCount(UnsafeBufferPointer(rebasing: pixels[start..<(start + rowPixels * 3)]), blockColumns, above: limit)
        }
        let tissue = TissueMap.isStained(Double(stained) / Double(blockRows.count * blockColumns.count))
        blocks[by * width + bx] = tissue ? 2 : 1
        return tissue
    }
}
