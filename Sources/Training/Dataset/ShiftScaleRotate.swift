import Core
import Foundation
import Segmentation

/// A seeded affine augmentation of a square tile and its mask, about the tile's centre:
/// rotation by `degrees` (counter-clockwise as seen), scaling by `scale`, then a shift by
/// `shift` tile sides. Pixels are sampled bilinearly and the mask by nearest pixel, both
/// reflecting (reflect-101) past the tile's edges as albumentations' ShiftScaleRotate
/// does by default; arithmetic in double precision, so the result is the same everywhere.
public struct ShiftScaleRotate: Sendable, Equatable {
    public var degrees: Double
    public var scale: Double
    public var shift: (x: Double, y: Double)

    public init(degrees: Double = 0, scale: Double = 1, shift: (x: Double, y: Double) = (0, 0)) {
        self.degrees = degrees
        self.scale = scale
        self.shift = shift
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.degrees == b.degrees && a.scale == b.scale && a.shift.x == b.shift.x && a.shift.y == b.shift.y
    }

    /// Drawn uniformly within the limits (the seed's notebooks: shift 0.0625, scale ±0.2,
    /// rotation ±15°).
    public static func random(shift: Double = 0.0625, scale: Double = 0.2, degrees: Double = 15, _ random: inout SplitMix64) -> Self {
        func draw(_ limit: Double) -> Double { limit * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1) }
        return ShiftScaleRotate(degrees: draw(degrees), scale: 1 + draw(scale), shift: (draw(shift), draw(shift)))
    }

    /// Where output pixel (x, y) of a `side`-pixel tile comes from.
    func source(x: Int, y: Int, side: Int) -> (x: Double, y: Double) {
        let centre = Double(side - 1) / 2
        let u = Double(x) - centre - shift.x * Double(side), v = Double(y) - centre - shift.y * Double(side)
        let angle = degrees * Double.pi / 180
        let (c, s) = (cos(angle), sin(angle))
        return ((c * u - s * v) / scale + centre, (s * u + c * v) / scale + centre)
    }

    /// The augmented tile (any channel count, bilinear) and mask (one channel, nearest).
    public func apply(image: PixelImage, mask: PixelImage) -> (image: PixelImage, mask: PixelImage) {
        precondition(image.width == image.height && mask.width == image.width && mask.height == image.height, "a square tile and its mask")
        let side = image.width, channels = image.channels
        var out = PixelImage(width: side, height: side, channels: channels)
        var labels = PixelImage(width: side, height: side, channels: 1)
        for y in 0..<side {
            for x in 0..<side {
                let (sx, sy) = source(x: x, y: y, side: side)
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = sx - Double(x0), fy = sy - Double(y0)
                let (xa, xb) = (reflectIndex(x0, count: side), reflectIndex(x0 + 1, count: side))
                let (ya, yb) = (reflectIndex(y0, count: side), reflectIndex(y0 + 1, count: side))
                for c in 0..<channels {
                    func at(_ px: Int, _ py: Int) -> Double { Double(image.pixels[(py * side + px) * channels + c]) }
                    let value = (1 - fy) * ((1 - fx) * at(xa, ya) + fx * at(xb, ya)) + fy * ((1 - fx) * at(xa, yb) + fx * at(xb, yb))
                    out.pixels[(y * side + x) * channels + c] = UInt8(min(max(value.rounded(), 0), 255))
                }
                let nx = reflectIndex(Int(sx.rounded()), count: side), ny = reflectIndex(Int(sy.rounded()), count: side)
                labels.pixels[y * side + x] = mask.pixels[ny * side + nx]
            }
        }
        return (out, labels)
    }
}
