import Core
import Foundation

/// A reproducible H&E-looking kidney section with its exact glomerulus mask.
///
/// Structures live in nested grids of cells, each decided by a hash of the seed and its
/// coordinates, and each kept inside its cell; so any band of rows renders on its own, in
/// any order, and a 40,000 × 40,000 slide streams in bounded memory:
/// - tissue: a smooth blob of low-frequency noise; outside it, background glass;
/// - glomeruli (640-pixel cells): a lobulated purple tuft with dense nuclei inside a pale
///   Bowman's space and a thin capsule; the mask is everything inside the capsule;
/// - tubules (128-pixel cells): pink epithelial rings with nuclei round a pale lumen;
/// - stroma between them, with fibre-like texture, and scattered nuclei (32-pixel cells).
public struct SyntheticSlide: Sendable {
    public let width: Int
    public let height: Int
    public let seed: UInt64
    /// How much of the section is glass: 0 (the default) leaves a few patches and the slide's
    /// edges bare; towards 1, tissue shrinks to islands on a mostly empty slide.
    public let glass: Double
    /// How far the stains differ from the default lab's: 0 (the default) none; towards 1 a
    /// bluer haematoxylin and a browner, fainter eosin, as another lab's protocol or scanner
    /// gives (each channel's optical density scaled: red × (1 + 0.9 s), green × (1 − 0.45 s),
    /// blue × (1 − 0.35 s)).
    public let stainShift: Double

    static let glomerulusCell = 640
    static let tubuleCell = 128
    static let nucleusCell = 32

    private let tissueNoise: ValueNoise
    private let detailNoise: ValueNoise
    private let stainNoise: ValueNoise

    public init(width: Int, height: Int, seed: UInt64, glass: Double = 0, stainShift: Double = 0) {
        self.width = width
        self.height = height
        self.seed = seed
        self.glass = max(0, min(1, glass))
        self.stainShift = max(0, min(1, stainShift))
        let tissueScale = max(600, Double(max(width, height)) / 3)
        tissueNoise = ValueNoise(seed: seed, stream: 1, scale: tissueScale)
        detailNoise = ValueNoise(seed: seed, stream: 2, scale: 9)
        stainNoise = ValueNoise(seed: seed, stream: 3, scale: 220)
    }

    // MARK: Structures

    /// A glomerulus: centre, capsule radius and the phase of its lobes.
    struct Glomerulus { let x: Double; let y: Double; let radius: Double; let phase: Double; let lobes: Double }

    /// The glomerulus of a 640-pixel cell, if it has one (placed where there is tissue).
    func glomerulus(cellX: Int, cellY: Int) -> Glomerulus? {
        let cell = Double(Self.glomerulusCell)
        guard Hash.unit(seed, 10, cellX, cellY) < 0.7 else { return nil }
        let radius = 90 + 90 * Hash.unit(seed, 11, cellX, cellY)
        let margin = radius + 12
        let x = Double(cellX) * cell + margin + (cell - 2 * margin) * Hash.unit(seed, 12, cellX, cellY)
        let y = Double(cellY) * cell + margin + (cell - 2 * margin) * Hash.unit(seed, 13, cellX, cellY)
        guard tissue(x, y) > 0.5 else { return nil }
        return Glomerulus(
            x: x, y: y, radius: radius, phase: 6.3 * Hash.unit(seed, 14, cellX, cellY),
            lobes: Double(4 + Int(4 * Hash.unit(seed, 15, cellX, cellY))))
    }

    /// Tissue density in [0, 1]: 0 is glass.
    @inline(__always)
    func tissue(_ x: Double, _ y: Double) -> Double {
        let n = tissueNoise(x, y)
        // Fade towards the slide's edges so tissue sits on glass, as sections do.
        let ex = min(x, Double(width) - x) / Double(max(width, 1)), ey = min(y, Double(height) - y) / Double(max(height, 1))
        let edge = min(1, 12 * min(ex, ey))
        return max(0, min(1, (n * 1.4 - 0.25 - 1.2 * glass) * edge * 4))
    }

    /// The outer radius of a glomerulus's capsule at angle θ (slightly wavy).
    @inline(__always)
    func capsuleRadius(_ g: Glomerulus, _ angle: Double) -> Double {
        g.radius * (1 + 0.04 * sin(3 * angle + g.phase))
    }

    /// Whether pixel (x, y) is in a glomerulus: the mask.
    public func isGlomerulus(x: Int, y: Int) -> Bool {
        let px = Double(x) + 0.5, py = Double(y) + 0.5
        guard let g = glomerulus(cellX: x / Self.glomerulusCell, cellY: y / Self.glomerulusCell) else { return false }
        let dx = px - g.x, dy = py - g.y
        return dx * dx + dy * dy <= pow(capsuleRadius(g, atan2(dy, dx)), 2)
    }

    // MARK: Rendering

    /// Renders rows `y0 ..< y0 + rows` as RGB and the mask (0/255), row-major.
    public func render(firstRow y0: Int, rows: Int) -> (rgb: [UInt8], mask: [UInt8]) {
        var rgb = [UInt8](repeating: 0, count: width * rows * 3)
        var mask = [UInt8](repeating: 0, count: width * rows)
        rgb.withUnsafeMutableBufferPointer { rgbOut in
            mask.withUnsafeMutableBufferPointer { maskOut in
                let rgbBase = DisjointPointer(rgbOut.baseAddress!), maskBase = DisjointPointer(maskOut.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: rows) { row in
                    renderRow(y: y0 + row, rgb: rgbBase.base + row * width * 3, mask: maskBase.base + row * width)
                }
            }
        }
        return (rgb, mask)
    }

    private func renderRow(y: Int, rgb: UnsafeMutablePointer<UInt8>, mask: UnsafeMutablePointer<UInt8>) {
        let py = Double(y) + 0.5
        var cachedCell = Int.min
        var g: Glomerulus? = nil
        for x in 0..<width {
            let px = Double(x) + 0.5
            let cellX = x / Self.glomerulusCell
            if cellX != cachedCell { cachedCell = cellX; g = glomerulus(cellX: cellX, cellY: y / Self.glomerulusCell) }
            var colour: (Double, Double, Double)
            var inMask = false
            if let g, let (c, m) = glomerulusColour(g, px, py) {
                colour = c
                inMask = m
            } else {
                colour = backgroundColour(x, y, px, py, glomerulus: g)
            }
            // Stain intensity varies slowly across the section; grain varies per pixel.
            let stain = 0.9 + 0.2 * stainNoise(px, py)
            let grain = (Hash.unit(seed, 20, x, y) - 0.5) * 10
            if stainShift > 0 { colour = shifted(colour) }
            rgb[3 * x] = clampByte(255 - (255 - colour.0) * stain + grain)
            rgb[3 * x + 1] = clampByte(255 - (255 - colour.1) * stain + grain)
            rgb[3 * x + 2] = clampByte(255 - (255 - colour.2) * stain + grain)
            mask[x] = inMask ? 255 : 0
        }
    }

    /// `colour` with each channel's optical density (against white) scaled by `stainShift`.
    private func shifted(_ colour: (Double, Double, Double)) -> (Double, Double, Double) {
        func scale(_ value: Double, _ gain: Double) -> Double { 255 * pow(max(1, value) / 255, gain) }
        return (scale(colour.0, 1 + 0.9 * stainShift), scale(colour.1, 1 - 0.45 * stainShift), scale(colour.2, 1 - 0.35 * stainShift))
    }

    private static let glass = (243.0, 241.0, 245.0)
    private static let stroma = (233.0, 186.0, 212.0)
    private static let epithelium = (214.0, 122.0, 168.0)
    private static let lumen = (246.0, 232.0, 241.0)
    private static let nucleus = (74.0, 48.0, 124.0)
    private static let tuft = (178.0, 96.0, 162.0)
    private static let bowman = (241.0, 224.0, 236.0)
    private static let capsule = (196.0, 132.0, 178.0)

    /// The colour inside a glomerulus's capsule (and whether it is in the mask), or nil.
    @inline(__always)
    private func glomerulusColour(_ g: Glomerulus, _ px: Double, _ py: Double) -> ((Double, Double, Double), Bool)? {
        let dx = px - g.x, dy = py - g.y
        let distance2 = dx * dx + dy * dy
        let outer = g.radius * 1.05
        guard distance2 <= outer * outer else { return nil }
        let distance = distance2.squareRoot(), angle = atan2(dy, dx)
        let edge = capsuleRadius(g, angle)
        guard distance <= edge else { return nil }
        if distance > edge - 7 { return (Self.capsule, true) }
        let tuftEdge = g.radius * (0.74 + 0.08 * sin(g.lobes * angle + g.phase))
        if distance > tuftEdge { return (Self.bowman, true) }
        // Dense nuclei in the tuft: 10-pixel cells, most with a nucleus.
        let ix = Int(px) / 10, iy = Int(py) / 10
        let nx = Double(ix * 10) + 2 + 6 * Hash.unit(seed, 30, ix, iy), ny = Double(iy * 10) + 2 + 6 * Hash.unit(seed, 31, ix, iy)
        let nr = 2.2 + 1.3 * Hash.unit(seed, 32, ix, iy)
        if Hash.unit(seed, 33, ix, iy) < 0.75 && (px - nx) * (px - nx) + (py - ny) * (py - ny) < nr * nr {
            return (Self.nucleus, true)
        }
        let texture = detailNoise(px, py) * 30 - 15
        return ((Self.tuft.0 + texture, Self.tuft.1 + texture, Self.tuft.2 + texture), true)
    }

    /// Tubules, stroma, nuclei or glass.
    @inline(__always)
    private func backgroundColour(_ x: Int, _ y: Int, _ px: Double, _ py: Double, glomerulus g: Glomerulus?) -> (Double, Double, Double) {
        let density = tissue(px, py)
        if density <= 0 { return Self.glass }
        var colour = Self.stroma
        let fibre = detailNoise(px * 0.5, py * 3) * 24 - 12
        colour = (colour.0 + fibre, colour.1 + fibre, colour.2 + fibre)
        // Tubule of this 128-pixel cell, kept clear of the glomerulus.
        let tx = x / Self.tubuleCell, ty = y / Self.tubuleCell
        let cell = Double(Self.tubuleCell)
        if Hash.unit(seed, 40, tx, ty) < 0.8 {
            let r = 28 + 22 * Hash.unit(seed, 41, tx, ty)
            let cx = Double(tx) * cell + r + 4 + (cell - 2 * r - 8) * Hash.unit(seed, 42, tx, ty)
            let cy = Double(ty) * cell + r + 4 + (cell - 2 * r - 8) * Hash.unit(seed, 43, tx, ty)
            let clear = g.map { pow($0.x - cx, 2) + pow($0.y - cy, 2) > pow($0.radius * 1.1 + r, 2) } ?? true
            if clear && tissue(cx, cy) > 0.7 && density > 0.3 {
                let stretch = 0.75 + 0.5 * Hash.unit(seed, 44, tx, ty)
                let dx = (px - cx) * stretch, dy = (py - cy) / stretch
                let d = (dx * dx + dy * dy).squareRoot()
                if d < r * 0.45 { return Self.lumen }
                if d < r {
                    // Nuclei sit along the ring's base.
                    let angle = atan2(dy, dx)
                    let slot = Int(((angle + .pi) / (2 * .pi) * 14).rounded(.down))
                    let na = (Double(slot) + 0.5) / 14 * 2 * .pi - .pi
                    let nd = r * 0.8
                    let ndx = dx - nd * cos(na), ndy = dy - nd * sin(na)
                    if ndx * ndx + ndy * ndy < 12 { return Self.nucleus }
                    return Self.epithelium
                }
            }
        }
        // Scattered stromal nuclei.
        let nx = x / Self.nucleusCell, ny = y / Self.nucleusCell
        if density > 0.6 && Hash.unit(seed, 50, nx, ny) < 0.35 {
            let cx = Double(nx * Self.nucleusCell) + 6 + 20 * Hash.unit(seed, 51, nx, ny)
            let cy = Double(ny * Self.nucleusCell) + 6 + 20 * Hash.unit(seed, 52, nx, ny)
            if (px - cx) * (px - cx) * 0.5 + (py - cy) * (py - cy) < 8 { return Self.nucleus }
        }
        if density < 1 {
            // Fade into glass at the tissue's border.
            return (
                Self.glass.0 + (colour.0 - Self.glass.0) * density, Self.glass.1 + (colour.1 - Self.glass.1) * density,
                Self.glass.2 + (colour.2 - Self.glass.2) * density
            )
        }
        return colour
    }
}

@inline(__always)
private func clampByte(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }
