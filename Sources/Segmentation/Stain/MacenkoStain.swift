import Core
import Foundation

/// Macenko stain normalisation (Macenko et al., ISBI 2009), computed as torchstain's numpy
/// normaliser computes it: optical density OD = −ln((I + 1)/Io); pixels with any channel's
/// OD below β left out; the plane of the two largest eigenvectors of their OD covariance;
/// the stain vectors at the α-th and (100 − α)-th percentiles of their angle in it
/// (haematoxylin first: the larger red OD); each pixel's concentrations by least squares;
/// those scaled so their 99th percentiles become the reference's; the image rebuilt with
/// the reference's stain matrix. Everything in double precision; bytes truncated as numpy's
/// `astype(uint8)` does.
public struct MacenkoStain: Sendable, Equatable, Codable {
    /// The reference stain matrix, columns haematoxylin and eosin (OD of R, G, B), and the
    /// reference's maximum concentrations.
    public var stains: [[Double]]
    public var maxConcentrations: [Double]
    public var io: Double
    public var alpha: Double
    public var beta: Double

    /// torchstain's reference: its H&E matrix and maximum concentrations.
    public init(
        stains: [[Double]] = [[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]],
        maxConcentrations: [Double] = [1.9705, 1.0308], io: Double = 240, alpha: Double = 1, beta: Double = 0.15
    ) {
        self.stains = stains
        self.maxConcentrations = maxConcentrations
        self.io = io
        self.alpha = alpha
        self.beta = beta
    }

    /// Optical densities of every pixel, and the pixels stained in every channel (OD ≥ β).
    private func opticalDensities(_ image: PixelImage) -> (od: [Double], kept: [Int]) {
        let n = image.width * image.height
        var od = [Double](repeating: 0, count: 3 * n)
        var kept: [Int] = []
        for p in 0..<n {
            var stained = true
            for c in 0..<3 {
                let value = -log((Double(image.pixels[3 * p + c]) + 1) / io)
                od[3 * p + c] = value
                if value < beta { stained = false }
            }
            if stained { kept.append(p) }
        }
        return (od, kept)
    }

    /// Each pixel's haematoxylin and eosin concentrations for the stain matrix `matrix`, by
    /// least squares: C = (HEᵀHE)⁻¹ HEᵀ OD; nil when the two stains are parallel.
    private static func concentrations(_ od: [Double], _ matrix: [[Double]]) -> [[Double]]? {
        let n = od.count / 3
        let h = [matrix[0][0], matrix[1][0], matrix[2][0]], e = [matrix[0][1], matrix[1][1], matrix[2][1]]
        let a = h[0] * h[0] + h[1] * h[1] + h[2] * h[2], b = h[0] * e[0] + h[1] * e[1] + h[2] * e[2]
        let d = e[0] * e[0] + e[1] * e[1] + e[2] * e[2], det = a * d - b * b
        guard det.isFinite, abs(det) > 1e-12 else { return nil }
        var concentrations = [[Double](repeating: 0, count: n), [Double](repeating: 0, count: n)]
        for p in 0..<n {
            let hy = h[0] * od[3 * p] + h[1] * od[3 * p + 1] + h[2] * od[3 * p + 2]
            let ey = e[0] * od[3 * p] + e[1] * od[3 * p + 1] + e[2] * od[3 * p + 2]
            concentrations[0][p] = (d * hy - b * ey) / det
            concentrations[1][p] = (a * ey - b * hy) / det
        }
        return concentrations
    }

    /// The stain matrix and maximum concentrations of `image` (RGB), or nil when it holds
    /// too few stained pixels to estimate them (glass).
    public func estimate(_ image: PixelImage) -> (stains: [[Double]], maxConcentrations: [Double], concentrations: [[Double]])? {
        let (od, kept) = opticalDensities(image)
        guard kept.count >= 16 else { return nil }
        // Sample covariance (N − 1), as np.cov.
        var mean = [0.0, 0.0, 0.0]
        for p in kept { for c in 0..<3 { mean[c] += od[3 * p + c] } }
        mean = mean.map { $0 / Double(kept.count) }
        var covariance = [[Double]](repeating: [0, 0, 0], count: 3)
        for p in kept {
            for i in 0..<3 { for j in 0..<3 { covariance[i][j] += (od[3 * p + i] - mean[i]) * (od[3 * p + j] - mean[j]) } }
        }
        covariance = covariance.map { $0.map { $0 / Double(kept.count - 1) } }
        let vectors = SymmetricEigen.vectors(covariance)  // columns, ascending eigenvalues
        let e1 = [vectors[0][1], vectors[1][1], vectors[2][1]], e2 = [vectors[0][2], vectors[1][2], vectors[2][2]]
        var angles = kept.map { p -> Double in
            let x = od[3 * p] * e1[0] + od[3 * p + 1] * e1[1] + od[3 * p + 2] * e1[2]
            let y = od[3 * p] * e2[0] + od[3 * p + 1] * e2[1] + od[3 * p + 2] * e2[2]
            return atan2(y, x)
        }
        angles.sort()
        let minPhi = Self.percentile(sorted: angles, alpha), maxPhi = Self.percentile(sorted: angles, 100 - alpha)
        func vector(_ phi: Double) -> [Double] { (0..<3).map { e1[$0] * cos(phi) + e2[$0] * sin(phi) } }
        let vMin = vector(minPhi), vMax = vector(maxPhi)
        let (h, e) = vMin[0] > vMax[0] ? (vMin, vMax) : (vMax, vMin)
        let matrix = [[h[0], e[0]], [h[1], e[1]], [h[2], e[2]]]
        guard let concentrations = Self.concentrations(od, matrix) else { return nil }
        let maxima = concentrations.map { Self.percentile(sorted: $0.sorted(), 99) }
        return (matrix, maxima, concentrations)
    }

    /// `image` in the reference's stains; unchanged when it has too few stained pixels.
    public func normalise(_ image: PixelImage) -> PixelImage {
        guard let (_, maxima, concentrations) = estimate(image) else { return image }
        return rebuilt(image, concentrations: concentrations, maxima: maxima)
    }

    /// `image` in the reference's stains, its own being `source` (estimated once for a
    /// whole slide, `SlideStain`): each pixel's concentrations in the source's stains,
    /// scaled from its maximum concentrations to the reference's. With the image's own
    /// estimate as the source, this is `normalise(image)`.
    public func normalise(_ image: PixelImage, source: MacenkoStain) -> PixelImage {
        guard let concentrations = Self.concentrations(opticalDensities(image).od, source.stains) else { return image }
        return rebuilt(image, concentrations: concentrations, maxima: source.maxConcentrations)
    }

    /// The image of `concentrations` (with maximum concentrations `maxima`) in the reference's stains.
    private func rebuilt(_ image: PixelImage, concentrations: [[Double]], maxima: [Double]) -> PixelImage {
        let scale = (0..<2).map { maxima[$0] / maxConcentrations[$0] }
        var out = image
        for p in 0..<(image.width * image.height) {
            let c0 = concentrations[0][p] / scale[0], c1 = concentrations[1][p] / scale[1]
            for c in 0..<3 {
                let value = io * exp(-(stains[c][0] * c0 + stains[c][1] * c1))
                out.pixels[3 * p + c] = value >= 255 ? 255 : UInt8(max(0, value))
            }
        }
        return out
    }

    /// A reference fitted to `image`: its stain matrix and maximum concentrations.
    public func fitted(to image: PixelImage) throws -> MacenkoStain {
        guard let (stains, maxima, _) = estimate(image) else {
            throw TesseraError("stain", "the reference image has too few stained pixels (OD ≥ \(beta) in every channel) to fit")
        }
        var fitted = self
        fitted.stains = stains
        fitted.maxConcentrations = maxima
        return fitted
    }

    /// numpy's default percentile: linear interpolation between the closest ranks.
    static func percentile(sorted values: [Double], _ q: Double) -> Double {
        let position = q / 100 * Double(values.count - 1)
        let low = Int(position.rounded(.down)), high = min(values.count - 1, low + 1)
        let fraction = position - Double(low)
        return values[low] + (values[high] - values[low]) * fraction
    }
}

/// Eigenvectors of a symmetric 3 × 3 matrix by cyclic Jacobi rotations, as columns sorted by
/// ascending eigenvalue (as LAPACK's `syevd`, up to each vector's sign).
enum SymmetricEigen {
    static func vectors(_ matrix: [[Double]]) -> [[Double]] {
        var a = matrix
        var v: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        for _ in 0..<64 {
            let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2]
            if off < 1e-30 { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where abs(a[p][q]) > 1e-300 {
                let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {
                    let akp = a[k][p], akq = a[k][q]
                    a[k][p] = c * akp - s * akq
                    a[k][q] = s * akp + c * akq
                }
                for k in 0..<3 {
                    let apk = a[p][k], aqk = a[q][k]
                    a[p][k] = c * apk - s * aqk
                    a[q][k] = s * apk + c * aqk
                }
                for k in 0..<3 {
                    let vkp = v[k][p], vkq = v[k][q]
                    v[k][p] = c * vkp - s * vkq
                    v[k][q] = s * vkp + c * vkq
                }
            }
        }
        let order = (0..<3).sorted { a[$0][$0] < a[$1][$1] }
        return (0..<3).map { row in order.map { v[row][$0] } }
    }
}
