import Core
import Foundation
import Testing

@testable import Engine

/// Squeeze-excitation's per-channel operations against finite differences.
@Suite struct ChannelOpsTests {
    @Test func averageAndProductBackwardsMatchFiniteDifferences() {
        var random = SplitMix64(seed: 8)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(random.next() % 2001) / 1000 - 1) } }
        let x = Tensor(channels: 3, height: 2, width: 4, data: values(24))
        let s = values(3), rAverage = values(3), rProduct = values(24)
        let h: Float = 1e-2
        let dAverage = ChannelOps.globalAverageBackward(rAverage, height: 2, width: 4)
        let (dx, ds) = ChannelOps.scaleBackward(Tensor(channels: 3, height: 2, width: 4, data: rProduct), input: x, scale: s)
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        for i in x.data.indices {
            var up = x, down = x
            up.data[i] += h
            down.data[i] -= h
            let average = (dot(ChannelOps.globalAverage(up), rAverage) - dot(ChannelOps.globalAverage(down), rAverage)) / Double(2 * h)
            #expect(abs(average - Double(dAverage.data[i])) < 1e-3)
            let product = (dot(ChannelOps.scale(up, by: s).data, rProduct) - dot(ChannelOps.scale(down, by: s).data, rProduct)) / Double(2 * h)
            #expect(abs(product - Double(dx.data[i])) < 1e-3)
        }
        for c in s.indices {
            var up = s, down = s
            up[c] += h
            down[c] -= h
            let numeric = (dot(ChannelOps.scale(x, by: up).data, rProduct) - dot(ChannelOps.scale(x, by: down).data, rProduct)) / Double(2 * h)
            #expect(abs(numeric - Double(ds[c])) < 1e-3)
        }
    }
}
