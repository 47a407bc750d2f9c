import Core
import Foundation

/// How overlapping tile predictions are weighted when stitched.
///
/// Windows are separable, w(i, j) = w(i) · w(j), and quantised to integers (scale
/// `BlendWindow.scale`) so that stitching sums integers: exact, and independent of order.
public enum BlendWindow: String, Sendable, CaseIterable, Codable {
    /// The seed's expansion tile: the centre counts fully, the margin not at all.
    case constantCrop = "constant"
    /// Linear ramps across the margins (2 × margin wide), so neighbouring weights sum to one.
    case linear
    /// A Gaussian of sigma = tileSize / 8 centred at (T − 1) / 2, as MONAI and nnU-Net use.
    case gaussian

    /// The weight 1.0 in integer units.
    public static let scale = 4096

    /// How many pixels along each edge of a tile get no weight: the constant crop's margin,
    /// none for the ramps. A map need only cover the square inside them (`SegmentationSettings.mapInset`).
    public func inset(tileSize: Int, margin: Int) -> Int {
        let weights = weights(tileSize: tileSize, margin: margin)
        let leading = weights.firstIndex { $0 != 0 } ?? tileSize / 2
        let trailing = weights.count - 1 - (weights.lastIndex { $0 != 0 } ?? tileSize / 2)
        return min(leading, trailing, (tileSize - 1) / 2)
    }

    /// The 1-D weights of a tile of side `tileSize` with `margin` context pixels, each in
    /// 0...scale. Positive everywhere but in the constant crop's margin.
    public func weights(tileSize: Int, margin: Int) -> [Int] {
        let size = Double(tileSize)
        return (0..<tileSize).map { index in
            let i = Double(index)
            let weight: Double
            switch self {
            case .constantCrop:
                weight = index >= margin && index < tileSize - margin ? 1 : 0
            case .linear:
                weight = margin == 0 ? 1 : min(1, (i + 0.5) / Double(2 * margin), (size - i - 0.5) / Double(2 * margin))
            case .gaussian:
                let sigma = size / 8, centre = (size - 1) / 2
                let peak = tileSize % 2 == 0 ? exp(-0.25 / (2 * sigma * sigma)) : 1
                weight = exp(-(i - centre) * (i - centre) / (2 * sigma * sigma)) / peak
            }
            let quantised = Int((weight * Double(Self.scale)).rounded())
            return self == .constantCrop ? quantised : max(1, min(Self.scale, quantised))
        }
    }
}
