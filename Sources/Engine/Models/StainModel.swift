import Core

/// A colour-rule baseline for glomeruli, needing no weights: the density of haematoxylin-
/// dark, purple pixels (nuclei, glomerular tufts) in a disc-sized neighbourhood.
///
/// It segments Tessera's synthetic slides passably (Dice ≈ 0.8) and real ones poorly; it
/// exists so the pipeline can be shown end to end before trained CNN members are bundled.
public final class StainModel: TilePredictor {
    public var name: String { "stain" }
    /// Half-side of the averaging box, in pixels.
    public let radius: Int

    public init(radius: Int = 40) {
        self.radius = radius
    }

    /// Tiles must hold its whole neighbourhood.
    public var minimumTileSide: Int { 2 * radius + 1 }

    public func predict(_ tile: PixelImage) throws -> [Float] {
        let w = tile.width, h = tile.height
        // Integral image of the "purple" indicator.
        var integral = [Int32](repeating: 0, count: (w + 1) * (h + 1))
        tile.pixels.withUnsafeBufferPointer { p in
            for y in 0..<h {
                var rowSum: Int32 = 0
                for x in 0..<w {
                    let i = (y * w + x) * 3
                    let r = Int(p[i]), g = Int(p[i + 1]), b = Int(p[i + 2])
                    // Purple: clearly darker than stroma in green, blue above red.
                    let purple = g < 120 && b > r - 30 && r < 200
                    rowSum += purple ? 1 : 0
                    integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + rowSum
                }
            }
        }
        var output = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            let y0 = max(0, y - radius), y1 = min(h, y + radius + 1)
            for x in 0..<w {
                let x0 = max(0, x - radius), x1 = min(w, x + radius + 1)
                let sum = integral[y1 * (w + 1) + x1] - integral[y0 * (w + 1) + x1] - integral[y1 * (w + 1) + x0] + integral[y0 * (w + 1) + x0]
                let density = Float(sum) / Float((x1 - x0) * (y1 - y0))
                // Tufts are mostly purple; tubules and stroma only at their nuclei.
                output[y * w + x] = min(1, max(0, (density - 0.08) * 3))
            }
        }
        return output
    }
}
