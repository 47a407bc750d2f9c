import Core
import Foundation

/// The colour augmentations of training, on 8-bit RGB tiles (masks are left alone):
/// brightness and contrast (albumentations' RandomBrightnessContrast: v·(1 + contrast) +
/// brightness·255, about the value itself, clipped), then hue, saturation and value shifts
/// in HSV (hue in degrees, saturation and value as fractions of full scale, clipped; hue
/// wraps). Arithmetic is in double precision and rounds half away from zero, so a tile's
/// augmentation is the same on every machine.
public struct ColourJitter: Sendable, Equatable {
    public var brightness: Double
    public var contrast: Double
    public var hueDegrees: Double
    public var saturation: Double
    public var value: Double

    public init(brightness: Double = 0, contrast: Double = 0, hueDegrees: Double = 0, saturation: Double = 0, value: Double = 0) {
        self.brightness = brightness; self.contrast = contrast
        self.hueDegrees = hueDegrees; self.saturation = saturation; self.value = value
    }

    /// Shifts drawn uniformly within ± each limit from `random` (the seed's notebooks used
    /// brightness and contrast 0.2, hue 20°, saturation 0.12, value 0.08).
    public static func random(
        brightness: Double = 0.2, contrast: Double = 0.2, hueDegrees: Double = 20, saturation: Double = 0.12,
        value: Double = 0.08, _ random: inout SplitMix64
    ) -> ColourJitter {
        func draw(_ limit: Double) -> Double { limit * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1) }
        return ColourJitter(
            brightness: draw(brightness), contrast: draw(contrast), hueDegrees: draw(hueDegrees),
            saturation: draw(saturation), value: draw(value))
    }

    /// The jittered tile.
    public func apply(_ image: PixelImage) -> PixelImage {
        precondition(image.channels == 3, "an RGB tile")
        var out = image
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            var rgb = (0..<3).map { Double(image.pixels[p + $0]) / 255 }
            rgb = rgb.map { min(max($0 * (1 + contrast) + brightness, 0), 1) }
            var (h, s, v) = Self.hsv(rgb[0], rgb[1], rgb[2])
            h = (h + hueDegrees).truncatingRemainder(dividingBy: 360)
            if h < 0 { h += 360 }
            s = min(max(s + saturation, 0), 1)
            v = min(max(v + value, 0), 1)
            let (r, g, b) = Self.rgb(h, s, v)
            out.pixels[p] = UInt8((r * 255).rounded())
            out.pixels[p + 1] = UInt8((g * 255).rounded())
            out.pixels[p + 2] = UInt8((b * 255).rounded())
        }
        return out
    }

    /// Hue in degrees [0, 360), saturation and value in [0, 1].
    static func hsv(_ r: Double, _ g: Double, _ b: Double) -> (Double, Double, Double) {
        let high = max(r, g, b), low = min(r, g, b), range = high - low
        guard range > 0 else { return (0, 0, high) }
        var hue: Double
        if high == r { hue = 60 * ((g - b) / range) } else if high == g { hue = 60 * ((b - r) / range + 2) } else { hue = 60 * ((r - g) / range + 4) }
        if hue < 0 { hue += 360 }
        return (hue, range / high, high)
    }

    static func rgb(_ h: Double, _ s: Double, _ v: Double) -> (Double, Double, Double) {
        let c = v * s, x = c * (1 - abs((h / 60).truncatingRemainder(dividingBy: 2) - 1)), m = v - c
        let (r, g, b): (Double, Double, Double) =
            switch Int(h / 60) % 6 {
            case 0: (c, x, 0)
            case 1: (x, c, 0)
            case 2: (0, c, x)
            case 3: (0, x, c)
            case 4: (x, 0, c)
            default: (c, 0, x)
            }
        return (r + m, g + m, b + m)
    }
}
