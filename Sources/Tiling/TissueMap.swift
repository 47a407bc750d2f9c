import Core

/// How tissue is told from glass before a slide is segmented (cluster.conf's `tissue`,
/// `infer --tissue`): tiles whose whole extent is glass are never predicted.
public struct TissueDetection: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        /// Every tile is predicted.
        case off
        /// A block holds tissue when at least 1 % of its pixels have an HSV saturation above
        /// `saturation` (20/255 by default: half the seed's glass test, so that pale tissue at
        /// a section's fading edge counts too).
        case saturation
        /// A block holds tissue when its mean saturation is above Otsu's threshold over all
        /// blocks' means (for slides whose glass is tinted).
        case otsu
    }

    public var method: Method
    /// The per-pixel saturation, 0…1, above which a pixel counts as stained (`saturation`).
    public var saturation: Double
    /// Slide pixels per thumbnail pixel.
    public var scale: Int
    /// Thumbnail pixels of glass around tissue that count as tissue too (its faint edges).
    public var margin: Int

    public init(method: Method = .off, saturation: Double = 20.0 / 255, scale: Int = 32, margin: Int = 1) {
        self.method = method
        self.saturation = saturation
        self.scale = scale
        self.margin = margin
    }
}

/// Where a slide holds tissue, one flag per `scale` × `scale` block of slide pixels (a
/// thumbnail). A tile is skipped — predicted 0 by every member, never read nor sent — only
/// when no block it overlaps, margin and all, holds tissue; so every pixel of tissue gets
/// exactly the maps it would get without detection, whatever the blending window, and the
/// mask there is unchanged bit for bit.
public struct TissueMap: Sendable, Equatable {
    public let scale: Int
    /// Blocks across and down.
    public let width: Int
    public let height: Int
    public let tissue: [Bool]

    public init(scale: Int, width: Int, height: Int, tissue: [Bool]) {
        precondition(tissue.count == width * height && scale >= 1)
        self.scale = scale
        self.width = width
        self.height = height
        self.tissue = tissue
    }

    /// HSV saturation of a pixel, (max − min) / max, in 0…255 (rounded down; 0 for black).
    @inline(__always)
    package static func saturation(_ r: Int, _ g: Int, _ b: Int) -> Int {
        let high = max(r, g, b), low = min(r, g, b)
        return high == 0 ? 0 : (high - low) * 255 / high
    }

    /// Otsu's threshold of values in [0, 1], over 256 bins: the one that maximises the
    /// between-class variance (the middle of the bins that do, when several do: between two
    /// separate populations every empty bin does).
    package static func otsu(_ values: [Double]) -> Double {
        var histogram = [Double](repeating: 0, count: 256)
        for v in values { histogram[min(255, max(0, Int(v * 255)))] += 1 }
        let total = Double(values.count), sum = histogram.enumerated().reduce(0) { $0 + Double($1.offset) * $1.element }
        var background = 0.0, backgroundSum = 0.0, best = 0.0, first = 0, last = 0
        for t in 0..<256 {
            background += histogram[t]
            backgroundSum += Double(t) * histogram[t]
            let foreground = total - background
            guard background > 0, foreground > 0 else { continue }
            let difference = backgroundSum / background - (sum - backgroundSum) / foreground
            let between = background * foreground * difference * difference
            if between > best * (1 + 1e-12) {
                best = between
                (first, last) = (t, t)
            } else if between >= best * (1 - 1e-12) {
                last = t
            }
        }
        return (Double(first + last) / 2 + 0.5) / 255
    }

    /// `flags` with every block within `by` blocks (Chebyshev distance) of a set one set.
    package static func grow(_ flags: [Bool], width: Int, height: Int, by radius: Int) -> [Bool] {
        guard radius > 0 else { return flags }
        var grown = flags
        for y in 0..<height {
            for x in 0..<width where flags[y * width + x] {
                for yy in max(0, y - radius)...min(height - 1, y + radius) {
                    for xx in max(0, x - radius)...min(width - 1, x + radius) { grown[yy * width + xx] = true }
                }
            }
        }
        return grown
    }

    /// Whether any block that `tile` overlaps (its whole extent, margin included, within
    /// the slide) holds tissue.
    public func hasTissue(_ tile: TileIndex, of plan: TilePlan) -> Bool {
        guard let (columns, rows) = Self.blocks(of: tile, in: plan, scale: scale, width: width, height: height) else { return false }
        for by in rows {
            for bx in columns where tissue[by * width + bx] { return true }
        }
        return false
    }

    /// The `scale`-pixel blocks that `tile`'s whole extent within the slide overlaps, and
    /// `margin` blocks more each way, among `width` × `height` blocks; nil when none.
    public static func blocks(
        of tile: TileIndex, in plan: TilePlan, scale: Int, margin: Int = 0, width: Int, height: Int
    ) -> (columns: ClosedRange<Int>, rows: ClosedRange<Int>)? {
        let (x, y) = plan.origin(of: tile)
        let x0 = max(0, x) / scale, y0 = max(0, y) / scale
        let x1 = min(plan.imageWidth - 1, x + plan.tileSize - 1) / scale, y1 = min(plan.imageHeight - 1, y + plan.tileSize - 1) / scale
        guard x0 <= x1, y0 <= y1 else { return nil }
        let left = max(0, x0 - margin), right = min(width - 1, x1 + margin), top = max(0, y0 - margin), bottom = min(height - 1, y1 + margin)
        guard left <= right, top <= bottom else { return nil }
        return (left...right, top...bottom)
    }

    /// The linear indices (row × columns + column) of the plan's tiles it skips.
    public func skipped(in plan: TilePlan) -> Set<Int> {
        Set(plan.tiles.filter { !hasTissue($0, of: plan) }.map { $0.row * plan.columns + $0.column })
    }
}
