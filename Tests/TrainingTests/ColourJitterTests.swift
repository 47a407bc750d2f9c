import Core
import Testing

@testable import Segmentation
@testable import Training

/// Colour jitter: the identity when nothing is drawn, HSV round trips, each shift's sign.
@Suite struct ColourJitterTests {
    static let tile: PixelImage = {
        var random = SplitMix64(seed: 12)
        return PixelImage(width: 16, height: 16, channels: 3, pixels: (0..<768).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }()

    @Test func noShiftIsTheIdentity() {
        #expect(ColourJitter().apply(Self.tile) == Self.tile)
    }

    @Test func hsvRoundTripsEveryGreyAndPrimary() {
        for (r, g, b) in [(0.0, 0.0, 0.0), (1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0.2, 0.5, 0.9), (0.9, 0.1, 0.4)] {
            let (h, s, v) = ColourJitter.hsv(r, g, b)
            let back = ColourJitter.rgb(h, s, v)
            #expect(abs(back.0 - r) < 1e-12 && abs(back.1 - g) < 1e-12 && abs(back.2 - b) < 1e-12)
        }
    }

    @Test func shiftsMoveTheWayTheySay() {
        func mean(_ image: PixelImage) -> Double { image.pixels.reduce(0.0) { $0 + Double($1) } / Double(image.pixels.count) }
        #expect(mean(ColourJitter(brightness: 0.1).apply(Self.tile)) > mean(Self.tile))
        #expect(mean(ColourJitter(value: -0.1).apply(Self.tile)) < mean(Self.tile))
        // A full turn of hue changes nothing; a third of a turn sends red to green.
        #expect(ColourJitter(hueDegrees: 360).apply(Self.tile) == Self.tile)
        let red = PixelImage(width: 1, height: 1, channels: 3, pixels: [200, 0, 0])
        #expect(ColourJitter(hueDegrees: 120).apply(red).pixels == [0, 200, 0])
        #expect(ColourJitter(saturation: -1).apply(red).pixels == [200, 200, 200])
        var a = SplitMix64(seed: 1), b = SplitMix64(seed: 1)
        #expect(ColourJitter.random(&a) == ColourJitter.random(&b))
    }
}
