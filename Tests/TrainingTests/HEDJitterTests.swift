import Core
import Testing

@testable import Segmentation
@testable import Training

/// HED stain jitter: scikit-image's colour deconvolution, jittered per channel.
@Suite struct HEDJitterTests {
    /// Colours made of non-negative H, E and D concentrations come back from HED space.
    @Test func colourDeconvolutionRoundTrips() {
        for h in stride(from: 0.0, through: 0.3, by: 0.05) {
            for e in stride(from: 0.0, through: 0.3, by: 0.05) {
                let rgb = HEDJitter.rgb([h, e, 0.02])
                let back = HEDJitter.hed(rgb)
                #expect(abs(back[0] - h) < 1e-9 && abs(back[1] - e) < 1e-9 && abs(back[2] - 0.02) < 1e-9, "\(rgb) → \(back)")
            }
        }
        // White is no stain at all.
        #expect(HEDJitter.hed([1, 1, 1]) == [0, 0, 0])
    }

    @Test func jitterIsSeededAndChangesStainedPixelsOnly() {
        var pixels: [UInt8] = []
        for i in 0..<64 {
            let rgb = i < 32 ? HEDJitter.rgb([0.05 + 0.005 * Double(i), 0.1, 0]) : [1, 1, 1]
            pixels += rgb.map { UInt8(($0 * 255).rounded()) }
        }
        let tile = PixelImage(width: 8, height: 8, channels: 3, pixels: pixels)
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7)
        let first = HEDJitter.random(sigma: 0.05, &a).apply(tile), second = HEDJitter.random(sigma: 0.05, &b).apply(tile)
        #expect(first == second)
        #expect(first.pixels[0..<96] != tile.pixels[0..<96])
        // White stays white unless the shift adds stain; identity changes nothing beyond rounding.
        let identity = HEDJitter().apply(tile)
        #expect(zip(identity.pixels, tile.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
    }
}
