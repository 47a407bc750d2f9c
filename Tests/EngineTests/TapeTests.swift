import Core
import Foundation
import Testing

@testable import Engine

/// The tape against finite differences on a small graph that uses every operation, with
/// a branch whose gradients meet again (as a U-Net's skips and ASPP's branches do).
@Suite struct TapeTests {
    static let shapes: [(key: String, shape: [Int])] = [
        ("a.weight", [4, 3, 3, 3]), ("a.bias", [4]),
        ("n.weight", [4]), ("n.bias", [4]), ("n.running_mean", [4]), ("n.running_var", [4]),
        ("se.weight", [4, 4, 1, 1]), ("se.bias", [4]),
        ("w.weight_g", [8, 1, 1, 1]), ("w.weight_v", [8, 4, 1, 1]), ("w.bias", [8]),
        ("d.weight", [4, 1, 3, 3]),
    ]

    /// L = Σ r·y over the graph's output, and the graph's output.
    static func forward(_ store: ParameterStore, _ images: [Tensor], normalisation: Tape.Normalisation) -> (Tape, Variable) {
        let tape = Tape(store: store, normalisation: normalisation)
        let x = tape.input(images)
        var y = tape.conv(x, "a", shape: ConvolutionShape(inputChannels: 3, outputChannels: 4, kernel: 3, padding: 1), bias: true)
        y = tape.activation(tape.batchNorm(y, "n", eps: 1e-3, momentum: 0.1), .swish)
        let gates = tape.activation(
            tape.conv(
                tape.globalAverage(y), "se", shape: ConvolutionShape(inputChannels: 4, outputChannels: 4, kernel: 1),
                bias: true), .sigmoid)
        let depthwise = tape.conv(
            y, "d",
            shape: ConvolutionShape(
                inputChannels: 4, outputChannels: 4, kernel: 3, stride: 1, dilation: 1,
                groups: 4, padTop: 0, padLeft: 0, padBottom: 2, padRight: 2))
        y = tape.add(tape.scaleChannels(y, by: gates), depthwise)
        let pooled = tape.maxPool(y, kernel: 3, stride: 2, padding: 1)
        let shuffled = tape.pixelShuffle(
            tape.activation(
                tape.weightNormConv(
                    pooled, "w",
                    shape: ConvolutionShape(
                        inputChannels: 4, outputChannels: 8,
                        kernel: 1)), .relu), factor: 2)
        let global = tape.bilinear(tape.globalMax(y), height: 8, width: 8, alignCorners: true)
        let joined = tape.concatenate([shuffled, global, tape.bilinear(pooled, height: 8, width: 8, alignCorners: false)])
        return (tape, joined)
    }

    @Test(arguments: ["batch", "frozen"])
    func gradientsMatchFiniteDifferences(_ mode: String) throws {
        let normalisation: Tape.Normalisation = mode == "batch" ? .batch() : .frozen
        let store = ParameterStore(shapes: Self.shapes)
        try store.load(from: DeterministicWeights())
        var random = SplitMix64(seed: 3)
        let images = (0..<2).map { _ in Tensor(channels: 3, height: 8, width: 8, data: (0..<192).map { _ in random.nextSigned() }) }
        let (tape, output) = Self.forward(store, images, normalisation: normalisation)
        let r = output.value.map { y in (0..<y.data.count).map { _ in random.nextSigned() } }
        func loss() -> Double {
            let y = Self.forward(store, images, normalisation: normalisation).1.value
            return zip(y, r).reduce(0.0) { sum, pair in sum + zip(pair.0.data, pair.1).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        }
        tape.backward(output, gradient: zip(output.value, r).map { Tensor(channels: $0.channels, height: $0.height, width: $0.width, data: $1) })
        // A small step (max pooling and ReLU have kinks a larger one would cross), and a
        // bound above float32 rounding of the loss divided by it.
        let h: Float = 1e-3
        var checked = 0
        for entry in store.entries where entry.isParameter {
            for i in stride(from: entry.range.lowerBound, to: entry.range.upperBound, by: 7) {
                let saved = store.values
                store.values[i] += h
                let up = loss()
                store.values = saved
                store.values[i] -= h
                let down = loss()
                store.values = saved
                let numeric = (up - down) / Double(2 * h)
                #expect(
                    abs(numeric - Double(store.gradients[i])) <= 1e-2 * max(1, abs(numeric)),
                    "\(entry.key)[\(i - entry.range.lowerBound)]: \(numeric) vs \(store.gradients[i])")
                checked += 1
            }
        }
        #expect(checked > 20)
    }
}
