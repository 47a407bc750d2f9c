import Core
import Foundation
import Testing

@testable import Engine

/// Upsampling, pixel shuffle and max pooling: backward passes against finite differences.
@Suite struct ResamplingBackwardTests {
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(Double(random.next() % 20_001) / 10_000 - 1) }
    }

    /// ⟨f(x + h·eᵢ) − f(x − h·eᵢ), r⟩ / 2h against the backward pass of r, for every i.
    static func check(_ x: Tensor, _ r: [Float], forward: (Tensor) -> Tensor, backward: Tensor) -> Bool {
        let h: Float = 1e-2
        return x.data.indices.allSatisfy { i in
            var up = x, down = x
            up.data[i] += h
            down.data[i] -= h
            let difference = zip(zip(forward(up).data, forward(down).data), r).map { Double($0.0 - $0.1) * Double($1) }.reduce(0, +)
            return abs(difference / Double(2 * h) - Double(backward.data[i])) < 1e-3
        }
    }

    @Test(arguments: [false, true])
    func bilinearBackwardIsTheForwardsAdjoint(alignCorners: Bool) {
        let x = Tensor(channels: 2, height: 3, width: 4, data: Self.values(24, seed: 1))
        let r = Self.values(2 * 7 * 5, seed: 2)
        let dy = Tensor(channels: 2, height: 7, width: 5, data: r)
        let dx = Resampling.bilinearBackward(dy, inputHeight: 3, inputWidth: 4, alignCorners: alignCorners)
        #expect(Self.check(x, r, forward: { Resampling.bilinear($0, height: 7, width: 5, alignCorners: alignCorners) }, backward: dx))
    }

    @Test func pixelShuffleBackwardIsItsInverse() {
        let x = Tensor(channels: 8, height: 2, width: 3, data: Self.values(48, seed: 3))
        let r = Self.values(48, seed: 4)
        let dx = Resampling.pixelShuffleBackward(Tensor(channels: 2, height: 4, width: 6, data: r), factor: 2)
        #expect(Self.check(x, r, forward: { Resampling.pixelShuffle($0, factor: 2) }, backward: dx))
    }

    @Test func maxPoolBackwardSendsGradientsToTheMaxima() {
        // Values 0.05 apart, shuffled: no two within the finite difference's step of each other.
        var random = SplitMix64(seed: 5)
        var spaced = (0..<60).map { Float($0) * 0.05 - 1.5 }
        for i in stride(from: 59, to: 0, by: -1) { spaced.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        let x = Tensor(channels: 2, height: 5, width: 6, data: spaced)
        let (y, indices) = PoolingTraining.max(x, kernel: 3, stride: 2, padding: 1)
        let r = Self.values(y.data.count, seed: 6)
        let dx = PoolingTraining.backward(r, indices: indices, channels: 2, height: 5, width: 6)
        #expect(Self.check(x, r, forward: { PoolingTraining.max($0, kernel: 3, stride: 2, padding: 1).output }, backward: dx))
    }
}
