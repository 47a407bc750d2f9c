import Core
import Foundation
import Testing

@testable import Engine

/// The activations' backward passes against finite differences (away from relu's kink).
@Suite struct ActivationBackwardTests {
    @Test(arguments: [Activation.identity, .relu, .sigmoid, .swish])
    func gradientsMatchFiniteDifferences(activation: Activation) {
        let inputs: [Float] = [-6, -2.5, -0.7, -0.1, 0.15, 0.8, 1.9, 4.2, 7.5]
        let weights: [Float] = [0.3, -1.1, 0.8, 0.5, -0.2, 1.4, -0.6, 0.9, 0.25]
        func forward(_ x: [Float]) -> [Float] {
            var tensor = Tensor(channels: 1, height: 1, width: x.count, data: x)
            activation.apply(&tensor)
            return tensor.data
        }
        let gradients = activation.backward(weights, input: inputs, output: forward(inputs))
        let h: Float = 1e-3
        for i in inputs.indices {
            var up = inputs, down = inputs
            up[i] += h
            down[i] -= h
            let numeric = (Double(forward(up)[i]) - Double(forward(down)[i])) / Double(2 * h) * Double(weights[i])
            #expect(abs(numeric - Double(gradients[i])) < 2e-3, "\(activation) at \(inputs[i])")
        }
    }
}
