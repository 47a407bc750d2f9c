import Core
import Foundation
import Segmentation

/// Stain augmentation in haematoxylin–eosin–DAB space (Tellez et al., 2018): each pixel's
/// HED concentrations, as scikit-image's `rgb2hed` computes them (Ruifrok and Johnston's
/// matrix, negative concentrations clipped), are scaled by α_c and shifted by β_c, one pair
/// for each channel of the tile, then mixed back (`hed2rgb`) and rounded. Every lab's
/// stains drift this way, so a member trained with it meets other labs' slides better.
public struct HEDJitter: Sendable, Equatable {
    public var scale: [Double]
    public var shift: [Double]

    public init(scale: [Double] = [1, 1, 1], shift: [Double] = [0, 0, 0]) {
        self.scale = scale
        self.shift = shift
    }

    /// α_c uniform in 1 ± `sigma`, β_c uniform in ± `sigma`, drawn from `random`.
    public static func random(sigma: Double, _ random: inout SplitMix64) -> HEDJitter {
        func draw() -> Double { sigma * (2 * Double(random.next() >> 11) / Double(1 << 53) - 1) }
        let scale = (0..<3).map { _ in 1 + draw() }
        let shift = (0..<3).map { _ in draw() }
        return HEDJitter(scale: scale, shift: shift)
    }

    /// scikit-image's `rgb_from_hed`, and its inverse `hed_from_rgb`.
    static let rgbFromHED: [[Double]] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]]
    static let hedFromRGB = Matrix3.inverse(rgbFromHED)

    /// A pixel's HED concentrations (`rgb2hed`: row vector of log(rgb)/log(1e-6) times
    /// `hedFromRGB`, negatives clipped).
    static func hed(_ rgb: [Double]) -> [Double] {
        let logAdjust = log(1e-6)
        let od = rgb.map { log(max($0, 1e-6)) / logAdjust }
        return (0..<3).map { c in max(0, od[0] * hedFromRGB[0][c] + od[1] * hedFromRGB[1][c] + od[2] * hedFromRGB[2][c]) }
    }

    /// A pixel's colour from its concentrations (`hed2rgb`), clipped to [0, 1].
    static func rgb(_ hed: [Double]) -> [Double] {
        let logAdjust = -log(1e-6)
        return (0..<3).map { c in
            let logRGB = -(hed[0] * rgbFromHED[0][c] + hed[1] * rgbFromHED[1][c] + hed[2] * rgbFromHED[2][c]) * logAdjust
            return min(1, max(0, exp(logRGB)))
        }
    }

    /// The jittered tile (RGB); rounding half away from zero, the same on every machine.
    public func apply(_ image: PixelImage) -> PixelImage {
        precondition(image.channels == 3, "an RGB tile")
        var out = image
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            let concentrations = Self.hed((0..<3).map { Double(image.pixels[p + $0]) / 255 })
            let rgb = Self.rgb((0..<3).map { concentrations[$0] * scale[$0] + shift[$0] })
            for c in 0..<3 { out.pixels[p + c] = UInt8((rgb[c] * 255).rounded(.toNearestOrAwayFromZero)) }
        }
        return out
    }
}
