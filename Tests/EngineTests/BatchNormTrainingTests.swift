import Core
import Foundation
import Testing

@testable import Engine

/// Training-mode batch norm's backward against finite differences of L = Σ r·y.
@Suite struct BatchNormTrainingTests {
    @Test func gradientsMatchFiniteDifferences() {
        var random = SplitMix64(seed: 9)
        func values(_ n: Int, _ scale: Double) -> [Float] { (0..<n).map { _ in Float((Double(random.next() % 2001) / 1000 - 1) * scale) } }
        let inputs = (0..<2).map { _ in Tensor(channels: 3, height: 2, width: 3, data: values(18, 2)) }
        let weights = (0..<2).map { _ in values(18, 1) }
        var layer = BatchNorm(channels: 3, eps: 1e-3)
        layer.weight = [0.7, 1.3, -0.4]
        layer.bias = [0.1, -0.2, 0.3]
        func loss(_ x: [Tensor], _ layer: BatchNorm) -> Double {
            var copy = layer
            let y = BatchNormTraining.forward(x, layer: &copy, momentum: 0.1).outputs
            var total = 0.0
            for (output, weight) in zip(y, weights) {
                for (value, r) in zip(output.data, weight) { total += Double(value) * Double(r) }
            }
            return total
        }
        var trained = layer
        let saved = BatchNormTraining.forward(inputs, layer: &trained, momentum: 0.1).saved
        let dOutputs = weights.map { Tensor(channels: 3, height: 2, width: 3, data: $0) }
        let (dInputs, dWeight, dBias) = BatchNormTraining.backward(dOutputs, saved: saved, weight: layer.weight)
        let h: Float = 1e-2
        for b in 0..<2 {
            for i in 0..<18 {
                var up = inputs, down = inputs
                up[b].data[i] += h
                down[b].data[i] -= h
                let numeric = (loss(up, layer) - loss(down, layer)) / Double(2 * h)
                #expect(abs(numeric - Double(dInputs[b].data[i])) < 2e-3, "input \(b), \(i)")
            }
        }
        for c in 0..<3 {
            var up = layer, down = layer
            up.weight[c] += h; down.weight[c] -= h
            #expect(abs((loss(inputs, up) - loss(inputs, down)) / Double(2 * h) - Double(dWeight[c])) < 2e-3)
            up = layer; down = layer
            up.bias[c] += h; down.bias[c] -= h
            #expect(abs((loss(inputs, up) - loss(inputs, down)) / Double(2 * h) - Double(dBias[c])) < 2e-3)
        }
    }
}
