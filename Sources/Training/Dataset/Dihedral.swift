import Core

/// The eight flips and quarter turns of a square tile, applied alike to its pixels and its
/// mask: the geometric augmentations of training, chosen by a seed.
public struct Dihedral: Sendable, Equatable, CaseIterable {
    /// Quarter turns counter-clockwise (0…3), after a horizontal flip when `flipped`.
    public let turns: Int
    public let flipped: Bool

    public init(turns: Int, flipped: Bool) {
        self.turns = ((turns % 4) + 4) % 4
        self.flipped = flipped
    }

    public static let allCases = (0..<8).map { Dihedral(turns: $0 % 4, flipped: $0 >= 4) }

    /// One of the eight, uniformly, from `random`.
    public static func random(_ random: inout SplitMix64) -> Dihedral { allCases[Int(random.next() % 8)] }

    /// The transform that undoes this one.
    public var inverse: Dihedral { flipped ? self : Dihedral(turns: 4 - turns, flipped: false) }

    /// Where the pixel at (x, y) of a `side`-pixel square comes from.
    func source(x: Int, y: Int, side: Int) -> (x: Int, y: Int) {
        var (sx, sy) = (x, y)
        // Undo the turns: the output pixel (x, y) of a counter-clockwise turn is input (side − 1 − y, x).
        for _ in 0..<turns { (sx, sy) = (side - 1 - sy, sx) }
        if flipped { sx = side - 1 - sx }
        return (sx, sy)
    }

    /// The transformed square image (any channel count).
    public func apply(_ image: PixelImage) -> PixelImage {
        precondition(image.width == image.height, "a square tile")
        let side = image.width, channels = image.channels
        var pixels = [UInt8](repeating: 0, count: image.pixels.count)
        for y in 0..<side {
            for x in 0..<side {
                let (sx, sy) = source(x: x, y: y, side: side)
                for c in 0..<channels { pixels[(y * side + x) * channels + c] = image.pixels[(sy * side + sx) * channels + c] }
            }
        }
        return PixelImage(width: side, height: side, channels: channels, pixels: pixels)
    }
}
