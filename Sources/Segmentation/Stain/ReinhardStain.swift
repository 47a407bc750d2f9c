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
        return standardised(image, values, means: mus, deviations: sigmas)
    }

    /// `image` moved from the statistics `source` (a whole slide's, `SlideStain`) to the
    /// reference's. With the image's own statistics as the source, this is `normalise(image)`.
    public func normalise(_ image: PixelImage, source: ReinhardStain) -> PixelImage {
        standardised(image, Self.lab(image), means: source.means, deviations: source.deviations)
    }

    /// The pixels (`values`, L*a*b*) standardised by `mus` and `sigmas`, given the reference's.
    private func standardised(_ image: PixelImage, _ values: [Float], means mus: [Double], deviations sigmas: [Double]) -> PixelImage {
        guard sigmas.allSatisfy({ $0 > 0 }) else { return image }
        var out = image
        let inverse = Self.xyzToRGB
        let (m0, m1, m2) = (inverse[0], inverse[1], inverse[2])
        @inline(__always) func cube(_ t: Float) -> Float { t > 0.2068966 ? t * t * t : (t - Float(16.0 / 116)) / 7.787 }
        @inline(__always) func byte(_ linear: Double) -> UInt8 {
            let rgb = linear > 0.0031308 ? 1.055 * pow(linear, 1 / 2.4) - 0.055 : linear * 12.92
            return UInt8(min(1, max(0, rgb)) * 255)
        }
        values.withUnsafeBufferPointer { values in
            out.pixels.withUnsafeMutableBufferPointer { pixels in
                for p in 0..<(image.width * image.height) {
                    let lab0 = Float((Double(values[3 * p]) - mus[0]) / sigmas[0] * deviations[0] + means[0])
                    let lab1 = Float((Double(values[3 * p + 1]) - mus[1]) / sigmas[1] * deviations[1] + means[1])
                    let lab2 = Float((Double(values[3 * p + 2]) - mus[2]) / sigmas[2] * deviations[2] + means[2])
                    // lab_merge, then lab2rgb's unscaling: L·2.55/2.55, a + 128 − 128.
                    let l = lab0 * 2.55 / 2.55, a = lab1 + 128 - 128, b = lab2 + 128 - 128
                    let y = (l + 16) / 116, x = a / 500 + y, z = y - b / 200
                    let x3 = Double(cube(x) * 0.95047), y3 = Double(cube(y)), z3 = Double(cube(z) * 1.08883)
                    pixels[3 * p] = byte(x3 * m0[0] + y3 * m0[1] + z3 * m0[2])
                    pixels[3 * p + 1] = byte(x3 * m1[0] + y3 * m1[1] + z3 * m1[2])
                    pixels[3 * p + 2] = byte(x3 * m2[0] + y3 * m2[1] + z3 * m2[2])
                }
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
        let (r0, r1, r2) = (matrix[0], matrix[1], matrix[2])
        let linear = Self.linear
        @inline(__always) func f(_ t: Float) -> Float { t > 0.008856 ? cbrtf(t) : 7.787 * t + Float(16.0 / 116) }
        var out = [Float](repeating: 0, count: image.width * image.height * 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            out.withUnsafeMutableBufferPointer { out in
                for p in 0..<(image.width * image.height) {
                    let lr = linear[Int(pixels[3 * p])], lg = linear[Int(pixels[3 * p + 1])], lb = linear[Int(pixels[3 * p + 2])]
                    let x = (r0[0] * lr + r0[1] * lg + r0[2] * lb) / 0.95047
                    let y = r1[0] * lr + r1[1] * lg + r1[2] * lb
                    let z = (r2[0] * lr + r2[1] * lg + r2[2] * lb) / 1.08883
                    let fx = f(x), fy = f(y), fz = f(z)
                    let l = (116 * fy - 16) * 2.55, a = 500 * (fx - fy) + 128, b = 200 * (fy - fz) + 128
                    out[3 * p] = l / 2.55
                    out[3 * p + 1] = a - 128
                    out[3 * p + 2] = b - 128
                }
            }
        }
        return out
    }

    /// sRGB's linearisation of each byte, in float32.
    private static let linear: [Float] = (0..<256).map { byte in
        let v = Float(byte) / 255
        return v > 0.04045 ? powf((v + 0.055) / 1.055, 2.4) : v / 12.92
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
