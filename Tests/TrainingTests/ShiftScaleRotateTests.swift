import Core
import Testing

@testable import Segmentation
@testable import Training

/// The affine augmentation against transforms whose result is known exactly.
@Suite struct ShiftScaleRotateTests {
    static let side = 9
    static let image: PixelImage = {
        var random = SplitMix64(seed: 30)
        return PixelImage(width: side, height: side, channels: 3, pixels: (0..<(side * side * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }()
    static let mask = PixelImage(width: side, height: side, channels: 1, pixels: (0..<(side * side)).map { $0 % 4 == 0 ? 1 : 0 })

    @Test func theIdentityChangesNothing() {
        let (image, mask) = ShiftScaleRotate().apply(image: Self.image, mask: Self.mask)
        #expect(image == Self.image && mask == Self.mask)
    }

    /// A quarter turn lands on the pixel grid: it is the dihedral quarter turn.
    @Test func aQuarterTurnIsTheDihedralOne() {
        let (image, mask) = ShiftScaleRotate(degrees: 90).apply(image: Self.image, mask: Self.mask)
        let turn = Dihedral(turns: 1, flipped: false)
        #expect(image == turn.apply(Self.image) && mask == turn.apply(Self.mask))
    }

    /// A shift by whole pixels moves them, reflecting at the edge.
    @Test func aWholePixelShiftMovesPixels() {
        let (image, _) = ShiftScaleRotate(shift: (2.0 / 9, 0)).apply(image: Self.image, mask: Self.mask)
        for y in 0..<Self.side {
            for x in 0..<Self.side {
                let from = reflectIndex(x - 2, count: Self.side)
                for c in 0..<3 { #expect(image.pixels[(y * Self.side + x) * 3 + c] == Self.image.pixels[(y * Self.side + from) * 3 + c]) }
            }
        }
    }

    @Test func randomDrawsAreSeededAndTheMaskStaysBinary() {
        var a = SplitMix64(seed: 2), b = SplitMix64(seed: 2)
        let transform = ShiftScaleRotate.random(&a)
        #expect(transform == ShiftScaleRotate.random(&b))
        #expect(abs(transform.degrees) <= 15 && abs(transform.scale - 1) <= 0.2 && abs(transform.shift.x) <= 0.0625)
        let (_, mask) = transform.apply(image: Self.image, mask: Self.mask)
        #expect(mask.pixels.allSatisfy { $0 == 0 || $0 == 1 })
    }
}
