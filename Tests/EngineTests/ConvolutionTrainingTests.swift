import Core
import Foundation
import TestSupport
import Testing

@testable import Engine

/// The convolution's backward pass against finite differences of L = Σ r·y, on each path:
/// im2col and GEMM (a grouped, strided, dilated shape with uneven padding), a 1×1 that
/// reads its input as columns, a strided 1×1, and depthwise 3×3 and 5×5 with
/// efficientnet_pytorch's uneven SAME padding.
@Suite struct ConvolutionTrainingTests {
    static let shapes: [ConvolutionShape] = [
        ConvolutionShape(
            inputChannels: 4, outputChannels: 6, kernel: 3, stride: 2, dilation: 2, groups: 2,
            padTop: 1, padLeft: 2, padBottom: 2, padRight: 1),
        ConvolutionShape(inputChannels: 4, outputChannels: 6, kernel: 1),
        ConvolutionShape(inputChannels: 4, outputChannels: 6, kernel: 1, stride: 2),
        ConvolutionShape(
            inputChannels: 4, outputChannels: 4, kernel: 3, stride: 1, dilation: 1, groups: 4,
            padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvolutionShape(
            inputChannels: 4, outputChannels: 4, kernel: 5, stride: 2, dilation: 1, groups: 4,
            padTop: 1, padLeft: 1, padBottom: 2, padRight: 2),
    ]

    @Test(arguments: shapes.indices)
    func gradientsMatchFiniteDifferences(_ index: Int) {
        var random = SplitMix64(seed: 5)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(random.next() % 2001) / 1000 - 1) } }
        let shape = Self.shapes[index]
        #expect(shape.isDepthwise == (index >= 3) && shape.isPointwise == (index == 1))
        let inputs = (0..<2).map { _ in Tensor(channels: 4, height: 7, width: 6, data: values(168)) }
        let weight = values(shape.weightCount), bias = values(shape.outputChannels)
        let outputs = ConvolutionTraining.forward(inputs, weight: weight, bias: bias, shape: shape)
        let r = outputs.map { values($0.data.count) }
        func loss(_ x: [Tensor], _ w: [Float], _ b: [Float]) -> Double {
            var total = 0.0
            for (y, weights) in zip(ConvolutionTraining.forward(x, weight: w, bias: b, shape: shape), r) {
                for (value, q) in zip(y.data, weights) { total += Double(value) * Double(q) }
            }
            return total
        }
        let dOutputs = zip(outputs, r).map { Tensor(channels: $0.channels, height: $0.height, width: $0.width, data: $1) }
        let (dInputs, dWeight, dBias) = ConvolutionTraining.backward(dOutputs, inputs: inputs, weight: weight, shape: shape)
        let h: Float = 1e-2
        for b in 0..<2 {
            for i in stride(from: 0, to: 168, by: 5) {
                var up = inputs, down = inputs
                up[b].data[i] += h
                down[b].data[i] -= h
                #expect(abs((loss(up, weight, bias) - loss(down, weight, bias)) / Double(2 * h) - Double(dInputs[b].data[i])) < 2e-3)
            }
        }
        for i in stride(from: 0, to: weight.count, by: 3) {
            var up = weight, down = weight
            up[i] += h
            down[i] -= h
            #expect(abs((loss(inputs, up, bias) - loss(inputs, down, bias)) / Double(2 * h) - Double(dWeight[i])) < 2e-3)
        }
        for c in 0..<shape.outputChannels {
            var up = bias, down = bias
            up[c] += h
            down[c] -= h
            #expect(abs((loss(inputs, weight, up) - loss(inputs, weight, down)) / Double(2 * h) - Double(dBias[c])) < 2e-3)
        }
    }

    /// The same bits whatever the thread count: images on their own threads, their shares
    /// summed in image order.
    @Test(arguments: [1, 8])
    func gradientsDoNotDependOnTheThreadCount(groups: Int) {
        var random = SplitMix64(seed: 6)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(random.next() % 2001) / 1000 - 1) } }
        let shape = ConvolutionShape(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 1, dilation: 1, groups: groups, padding: 1)
        let inputs = (0..<5).map { _ in Tensor(channels: 8, height: 9, width: 9, data: values(648)) }
        let dOutputs = (0..<5).map { _ in Tensor(channels: 8, height: 9, width: 9, data: values(648)) }
        let weight = values(shape.weightCount)
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var results: [(inputs: [Tensor], weight: [Float], bias: [Float])] = []
        KernelBuildLock.holdingTheBuild {
            for threads in [1, 2, 3] {
                Parallel.threads = threads
                results.append(ConvolutionTraining.backward(dOutputs, inputs: inputs, weight: weight, shape: shape))
            }
        }
        for result in results.dropFirst() {
            #expect(result.inputs.map(\.data) == results[0].inputs.map(\.data))
            #expect(result.weight.map(\.bitPattern) == results[0].weight.map(\.bitPattern) && result.bias == results[0].bias)
        }
    }
}
