import Core
import Foundation

/// Reinhard colour normalisation (Reinhard et al., 2001), as torchstain's numpy normaliser
/// computes it: sRGB → CIE L*a*b* (D65, OpenCV's scaling, float32 as numpy does), each
/// channel standardised by the image's own mean and standard deviation and given the
/// reference's, back to sRGB, bytes truncated as `astype(uint8)`.
public struct ReinhardStain: Sendable, Equatable, Codable {
    /// The reference's per-channel mean and standard deviation of L (0…100), a and b.
    public var means: [Double]
    public var deviations: [Double]

    public init(means: [Double], deviations: [Double]) {
        self.means = means
        self.deviations = deviations
    }

    /// The reference statistics of `image`.
    public static func fitted(to image: PixelImage) throws -> ReinhardStain {
        let (means, deviations) = statistics(lab(image))
        guard deviations.allSatisfy({ $0 > 0 }) else { throw TesseraError("stain", "the reference image has a channel without contrast") }
        return ReinhardStain(means: means, deviations: deviations)
    }

    /// `image` with the reference's L*a*b* statistics; unchanged when a channel is flat.
    public func normalise(_ image: PixelImage) -> PixelImage {
        let values = Self.lab(image)
        let (mus, sigmas) = Self.statistics(values)
        guard sigmas.allSatisfy({ $0 > 0 }) else { return image }
        var out = image
        let inverse = Self.xyzToRGB
        for p in 0..<(image.width * image.height) {
            var lab = [Float](repeating: 0, count: 3)
            for c in 0..<3 {
                lab[c] = Float((Double(values[3 * p + c]) - mus[c]) / sigmas[c] * deviations[c] + means[c])
            }
            // lab_merge, then lab2rgb's unscaling: L·2.55/2.55, a + 128 − 128.
            let l = lab[0] * 2.55 / 2.55, a = lab[1] + 128 - 128, b = lab[2] + 128 - 128
            let y = (l + 16) / 116, x = a / 500 + y, z = y - b / 200
            var xyz: [Float] = [x, y, z].map { (t: Float) -> Float in t > 0.2068966 ? t * t * t : (t - Float(16.0 / 116)) / 7.787 }
            xyz[0] *= 0.95047; xyz[2] *= 1.08883
            for c in 0..<3 {
                var rgb = Double(xyz[0]) * inverse[c][0] + Double(xyz[1]) * inverse[c][1] + Double(xyz[2]) * inverse[c][2]
                rgb = rgb > 0.0031308 ? 1.055 * pow(rgb, 1 / 2.4) - 0.055 : rgb * 12.92
                let byte = min(1, max(0, rgb)) * 255
                out.pixels[3 * p + c] = UInt8(byte)
            }
        }
        return out
    }

    static let rgbToXYZ: [[Double]] = [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
    /// The inverse of `rgbToXYZ` (numpy's `linalg.inv`, to double precision).
    static let xyzToRGB = Matrix3.inverse(rgbToXYZ)

    /// L (0…100), a, b per pixel, in float32 as torchstain's rgb2lab and lab_split.
    static func lab(_ image: PixelImage) -> [Float] {
        let matrix = rgbToXYZ.map { $0.map { Float($0) } }
        var out = [Float](repeating: 0, count: image.width * image.height * 3)
        for p in 0..<(image.width * image.height) {
            var linear = [Float](repeating: 0, count: 3)
            for c in 0..<3 {
                let v = Float(image.pixels[3 * p + c]) / 255
                linear[c] = v > 0.04045 ? powf((v + 0.055) / 1.055, 2.4) : v / 12.92
            }
            var xyz = (0..<3).map { r in matrix[r][0] * linear[0] + matrix[r][1] * linear[1] + matrix[r][2] * linear[2] }
            xyz[0] /= 0.95047; xyz[2] /= 1.08883
            let f: [Float] = xyz.map { (t: Float) -> Float in t > 0.008856 ? cbrtf(t) : 7.787 * t + Float(16.0 / 116) }
            let l = (116 * f[1] - 16) * 2.55, a = 500 * (f[0] - f[1]) + 128, b = 200 * (f[1] - f[2]) + 128
            out[3 * p] = l / 2.55
            out[3 * p + 1] = a - 128
            out[3 * p + 2] = b - 128
        }
        return out
    }

    /// Per channel mean and (population) standard deviation.
    static func statistics(_ values: [Float]) -> (means: [Double], deviations: [Double]) {
        let n = Double(values.count / 3)
        var means = [0.0, 0.0, 0.0], squares = [0.0, 0.0, 0.0]
        for p in 0..<(values.count / 3) { for c in 0..<3 { means[c] += Double(values[3 * p + c]) } }
        means = means.map { $0 / n }
        for p in 0..<(values.count / 3) { for c in 0..<3 { let d = Double(values[3 * p + c]) - means[c]; squares[c] += d * d } }
        return (means, squares.map { ($0 / n).squareRoot() })
    }
}
