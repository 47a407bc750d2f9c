import Core
import Foundation
import Testing

@testable import Engine

/// Seeded dropout: reproducible, at the asked rate, scaled to keep the mean.
@Suite struct DropoutTests {
    @Test func channelDropoutIsSeededAndKeepsTheMean() {
        var a = SplitMix64(seed: 3), b = SplitMix64(seed: 3)
        let factors = Dropout.channelFactors(images: 100, channels: 100, probability: 0.2, random: &a)
        #expect(factors == Dropout.channelFactors(images: 100, channels: 100, probability: 0.2, random: &b))
        let dropped = Double(factors.filter { $0 == 0 }.count) / 10_000
        #expect(abs(dropped - 0.2) < 0.02 && factors.allSatisfy { $0 == 0 || $0 == 1.25 })
        let mean = factors.reduce(0.0) { $0 + Double($1) } / 10_000
        #expect(abs(mean - 1) < 0.03)
        var c = SplitMix64(seed: 3)
        #expect(Dropout.channelFactors(images: 2, channels: 3, probability: 0, random: &c) == [1, 1, 1, 1, 1, 1])
    }

    @Test func dropConnectKeepsWholeImages() {
        var random = SplitMix64(seed: 11)
        let factors = Dropout.imageFactors(images: 10_000, probability: 0.25, random: &random)
        let kept = Double(factors.filter { $0 > 0 }.count) / 10_000
        #expect(abs(kept - 0.75) < 0.02 && factors.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
    }
}
