import Core
import Foundation
import Testing

@testable import Engine

/// Weight normalisation's gradients against finite differences.
@Suite struct WeightNormTests {
    @Test func weightNormGradientsMatchFiniteDifferences() {
        var random = SplitMix64(seed: 2)
        func values(_ n: Int, _ low: Double, _ high: Double) -> [Float] {
            (0..<n).map { _ in Float(low + (high - low) * Double(random.next() % 10_001) / 10_000) }
        }
        let g = values(3, 0.5, 2), v = values(12, -1, 1), r = values(12, -1, 1)
        func loss(_ g: [Float], _ v: [Float]) -> Double {
            zip(WeightNorm.weight(g: g, v: v), r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let (dG, dV) = WeightNorm.backward(r, g: g, v: v)
        let h: Float = 1e-3
        for i in g.indices {
            var up = g, down = g
            up[i] += h; down[i] -= h
            #expect(abs((loss(up, v) - loss(down, v)) / Double(2 * h) - Double(dG[i])) < 1e-3)
        }
        for i in v.indices {
            var up = v, down = v
            up[i] += h; down[i] -= h
            #expect(abs((loss(g, up) - loss(g, down)) / Double(2 * h) - Double(dV[i])) < 1e-3)
        }
    }
}
