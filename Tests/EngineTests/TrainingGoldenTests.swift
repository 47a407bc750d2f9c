import Core
import Foundation
import Testing

@testable import Engine

/// Losses, optimisers and clipping against PyTorch (tools/make_training_goldens.py):
/// errors relative to the largest value of each output.
@Suite struct TrainingGoldenTests {
    struct File: Decodable {
        struct Losses: Decodable {
            struct Case: Decodable { let loss: String; let positiveWeight: Double?; let value: Double; let gradients: [Float] }
            let images: Int
            let pixels: Int
            let logits: [Float]
            let masks: [Float]
            let cases: [Case]
        }
        struct Optimizers: Decodable {
            struct Settings: Decodable { let lr: Double; let weightDecay: Double?; let beta1: Double?; let momentum: Double?; let nesterov: Bool? }
            struct Case: Decodable { let optimizer: String; let settings: Settings; let after: [[Float]] }
            let start: [Float]
            let gradients: [[Float]]
            let cases: [Case]
        }
        struct Clipping: Decodable { let maxNorm: Double; let before: [[Float]]; let norm: Double; let after: [[Float]] }
        struct BatchNorm: Decodable {
            struct Case: Decodable {
                let momentum: Double; let eps: Float; let outputs: [Float]; let runningMean: [Float]; let runningVar: [Float]
                let dInputs: [Float]; let dWeight: [Float]; let dBias: [Float]
            }
            let shape: [Int]
            let inputs: [Float]; let dOutputs: [Float]; let weight: [Float]; let bias: [Float]
            let runningMean: [Float]; let runningVar: [Float]
            let cases: [Case]
        }
        struct Activations: Decodable {
            struct Case: Decodable { let activation: String; let dInputs: [Float] }
            let inputs: [Float]; let dOutputs: [Float]; let cases: [Case]
        }
        let torch: String
        let losses: Losses
        let optimizers: Optimizers
        let clipping: Clipping
        struct Convolution: Decodable {
            let name: String
            let inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int, dilation: Int, groups: Int
            let padding: [Int]
            let height: Int, width: Int, outputHeight: Int, outputWidth: Int
            let inputs: [Float], weight: [Float], bias: [Float], dOutputs: [Float]
            let outputs: [Float], dInputs: [Float], dWeight: [Float], dBias: [Float]
            var shape: ConvolutionShape {
                ConvolutionShape(
                    inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, stride: stride,
                    dilation: dilation, groups: groups, padTop: padding[0], padLeft: padding[1], padBottom: padding[2],
                    padRight: padding[3])
            }
        }
        let batchNorm: BatchNorm
        let activations: Activations
        let convolutions: [Convolution]
        struct Resampling: Decodable {
            struct Case: Decodable {
                let op: String
                let alignCorners: Bool?
                let size: [Int]?
                let inputs: [Float]?
                let dOutputs: [Float], outputs: [Float], dInputs: [Float]
            }
            let inputs: [Float]
            let shape: [Int]
            let cases: [Case]
        }
        let resampling: Resampling
        struct WeightNorm: Decodable { let g: [Float], v: [Float], dWeight: [Float], weight: [Float], dG: [Float], dV: [Float] }
        let weightNorm: WeightNorm
        struct SqueezeExcitation: Decodable {
            let shape: [Int]; let reduced: Int
            let inputs: [Float], reduceWeight: [Float], reduceBias: [Float], expandWeight: [Float], expandBias: [Float], dOutputs: [Float]
            let outputs: [Float], dInputs: [Float], dReduceWeight: [Float], dReduceBias: [Float], dExpandWeight: [Float], dExpandBias: [Float]
        }
        let squeezeExcitation: SqueezeExcitation
    }

    /// A flat NCHW buffer as a batch of tensors.
    static func batch(_ values: [Float], shape: [Int]) -> [Tensor] {
        let size = shape[1] * shape[2] * shape[3]
        return (0..<shape[0]).map { Tensor(channels: shape[1], height: shape[2], width: shape[3], data: Array(values[($0 * size)..<(($0 + 1) * size)])) }
    }

    static let golden: File = {
        let path = Golden.directory + "/training.json"
        guard let data = FileManager.default.contents(atPath: path), let file = try? JSONDecoder().decode(File.self, from: data) else {
            fatalError("\(path) is missing or malformed: run tools/make_training_goldens.py")
        }
        return file
    }()

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = b.map { abs(Double($0)) }.max() ?? 0
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / max(scale, 1e-30)
    }

    @Test func lossesAndGradientsMatchAutograd() throws {
        let losses = Self.golden.losses
        let logits = (0..<losses.images).map { Array(losses.logits[($0 * losses.pixels)..<(($0 + 1) * losses.pixels)]) }
        let masks = (0..<losses.images).map { Array(losses.masks[($0 * losses.pixels)..<(($0 + 1) * losses.pixels)]) }
        for golden in losses.cases {
            let loss: SegmentationLoss =
                switch golden.loss {
                case "bce": .bce(positiveWeight: golden.positiveWeight ?? 1)
                case "dice": .dice
                case "symmetricLovasz": .symmetricLovasz
                default: .bceDice(positiveWeight: golden.positiveWeight ?? 1)
                }
            let (value, gradients) = try loss.evaluate(logits: logits, masks: masks)
            #expect(abs(value - golden.value) <= 1e-6 * abs(golden.value), "\(loss): \(value) against \(golden.value)")
            #expect(Self.relativeError(gradients.flatMap { $0 }, golden.gradients) <= 1e-5, "\(loss)")
        }
    }

    @Test func optimiserStepsMatchPyTorch() {
        let golden = Self.golden.optimizers
        for test in golden.cases {
            let s = test.settings
            let optimizer: Optimizer =
                test.optimizer == "adamW"
                ? .adamW(beta1: s.beta1 ?? 0.9, weightDecay: s.weightDecay ?? 0.01)
                : .sgd(momentum: s.momentum ?? 0, nesterov: s.nesterov ?? false, weightDecay: s.weightDecay ?? 0)
            var parameters = golden.start
            var state = Optimizer.State(count: parameters.count, for: optimizer)
            for (step, gradients) in golden.gradients.enumerated() {
                optimizer.step(&parameters, gradients: gradients, state: &state, lr: s.lr)
                #expect(Self.relativeError(parameters, test.after[step]) <= 1e-6, "\(optimizer) step \(step + 1)")
            }
        }
    }

    @Test func clippingMatchesPyTorch() {
        let golden = Self.golden.clipping
        var gradients = golden.before
        let norm = clipGradientNorm(&gradients, maxNorm: golden.maxNorm)
        #expect(abs(norm - golden.norm) <= 1e-6 * golden.norm)
        #expect(Self.relativeError(gradients.flatMap { $0 }, golden.after.flatMap { $0 }) <= 1e-6)
    }

    @Test func batchNormInTrainingMatchesPyTorch() {
        let golden = Self.golden.batchNorm
        let inputs = Self.batch(golden.inputs, shape: golden.shape), dOutputs = Self.batch(golden.dOutputs, shape: golden.shape)
        for test in golden.cases {
            var layer = BatchNorm(channels: golden.shape[1], eps: test.eps)
            layer.weight = golden.weight; layer.bias = golden.bias
            layer.runningMean = golden.runningMean; layer.runningVar = golden.runningVar
            let (outputs, saved) = BatchNormTraining.forward(inputs, layer: &layer, momentum: test.momentum)
            #expect(Self.relativeError(outputs.flatMap(\.data), test.outputs) <= 1e-6, "momentum \(test.momentum)")
            #expect(Self.relativeError(layer.runningMean, test.runningMean) <= 1e-6 && Self.relativeError(layer.runningVar, test.runningVar) <= 1e-6)
            let (dInputs, dWeight, dBias) = BatchNormTraining.backward(dOutputs, saved: saved, weight: layer.weight)
            #expect(Self.relativeError(dInputs.flatMap(\.data), test.dInputs) <= 1e-5, "momentum \(test.momentum)")
            #expect(Self.relativeError(dWeight, test.dWeight) <= 1e-5 && Self.relativeError(dBias, test.dBias) <= 1e-5)
        }
    }

    @Test func activationBackwardsMatchPyTorch() {
        let golden = Self.golden.activations
        for test in golden.cases {
            let activation: Activation =
                switch test.activation {
                case "relu": .relu;
                case "sigmoid": .sigmoid;
                default: .swish
                }
            var output = Tensor(channels: 1, height: 1, width: golden.inputs.count, data: golden.inputs)
            activation.apply(&output)
            let dInputs = activation.backward(golden.dOutputs, input: golden.inputs, output: output.data)
            #expect(Self.relativeError(dInputs, test.dInputs) <= 1e-5, "\(activation)")
        }
    }

    @Test func convolutionsForwardAndBackwardMatchAutograd() {
        for test in Self.golden.convolutions {
            let inputs = Self.batch(test.inputs, shape: [2, test.inputChannels, test.height, test.width])
            let dOutputs = Self.batch(test.dOutputs, shape: [2, test.outputChannels, test.outputHeight, test.outputWidth])
            let outputs = ConvolutionTraining.forward(inputs, weight: test.weight, bias: test.bias, shape: test.shape)
            #expect(outputs.allSatisfy { $0.height == test.outputHeight && $0.width == test.outputWidth }, "\(test.name)")
            #expect(Self.relativeError(outputs.flatMap(\.data), test.outputs) <= 1e-5, "\(test.name)")
            let (dInputs, dWeight, dBias) = ConvolutionTraining.backward(dOutputs, inputs: inputs, weight: test.weight, shape: test.shape)
            #expect(Self.relativeError(dInputs.flatMap(\.data), test.dInputs) <= 1e-5, "\(test.name): inputs")
            #expect(Self.relativeError(dWeight, test.dWeight) <= 1e-5, "\(test.name): weight")
            #expect(Self.relativeError(dBias, test.dBias) <= 1e-5, "\(test.name): bias")
        }
    }

    @Test func resamplingAndPoolingBackwardsMatchAutograd() {
        let golden = Self.golden.resampling
        let x = Tensor(channels: golden.shape[0], height: golden.shape[1], width: golden.shape[2], data: golden.inputs)
        for test in golden.cases {
            switch test.op {
            case "bilinear":
                let (height, width) = (test.size![0], test.size![1])
                let y = Resampling.bilinear(x, height: height, width: width, alignCorners: test.alignCorners!)
                #expect(Self.relativeError(y.data, test.outputs) <= 1e-6, "bilinear \(test.size!) \(test.alignCorners!)")
                let dy = Tensor(channels: x.channels, height: height, width: width, data: test.dOutputs)
                let dx = Resampling.bilinearBackward(dy, inputHeight: x.height, inputWidth: x.width, alignCorners: test.alignCorners!)
                #expect(Self.relativeError(dx.data, test.dInputs) <= 1e-5, "bilinear \(test.size!) \(test.alignCorners!)")
            case "pixelShuffle":
                let input = Tensor(channels: 8, height: 3, width: 2, data: test.inputs!)
                #expect(Resampling.pixelShuffle(input, factor: 2).data == test.outputs)
                let dy = Tensor(channels: 2, height: 6, width: 4, data: test.dOutputs)
                #expect(Resampling.pixelShuffleBackward(dy, factor: 2).data == test.dInputs)
            case "maxPool":
                let input = Tensor(channels: 3, height: 7, width: 6, data: test.inputs!)
                let (y, indices) = PoolingTraining.max(input, kernel: 3, stride: 2, padding: 1)
                #expect(y.data == test.outputs && Pooling.max(input, kernel: 3, stride: 2, padding: 1).data == test.outputs)
                let dx = PoolingTraining.backward(test.dOutputs, indices: indices, channels: 3, height: 7, width: 6)
                #expect(Self.relativeError(dx.data, test.dInputs) <= 1e-6, "max pool: ties go where PyTorch sends them")
            default:
                let input = Tensor(channels: 3, height: 7, width: 6, data: test.inputs!)
                let (y, indices) = PoolingTraining.globalMax(input)
                #expect(y == test.outputs)
                let dx = PoolingTraining.backward(test.dOutputs, indices: indices, channels: 3, height: 7, width: 6)
                #expect(dx.data == test.dInputs)
            }
        }
    }

    @Test func weightNormGradientsMatchAutograd() {
        let golden = Self.golden.weightNorm
        #expect(Self.relativeError(WeightNorm.weight(g: golden.g, v: golden.v), golden.weight) <= 1e-6)
        let (dG, dV) = WeightNorm.backward(golden.dWeight, g: golden.g, v: golden.v)
        #expect(Self.relativeError(dG, golden.dG) <= 1e-5 && Self.relativeError(dV, golden.dV) <= 1e-5)
    }

    /// The primitives compose: efficientnet_pytorch's squeeze-excitation, forward and
    /// backward, from the average, 1×1 convolutions, swish, sigmoid and the product.
    @Test func squeezeExcitationComposedFromThePrimitivesMatchesAutograd() {
        let golden = Self.golden.squeezeExcitation
        let (channels, reduced) = (golden.shape[1], golden.reduced)
        let x = Self.batch(golden.inputs, shape: golden.shape), dy = Self.batch(golden.dOutputs, shape: golden.shape)
        let reduce = ConvolutionShape(inputChannels: channels, outputChannels: reduced, kernel: 1)
        let expand = ConvolutionShape(inputChannels: reduced, outputChannels: channels, kernel: 1)
        // Forward, keeping what the backward pass needs.
        let squeezed = x.map { Tensor(channels: channels, height: 1, width: 1, data: ChannelOps.globalAverage($0)) }
        let r = ConvolutionTraining.forward(squeezed, weight: golden.reduceWeight, bias: golden.reduceBias, shape: reduce)
        let a = r.map { t -> Tensor in
            var t = t; Activation.swish.apply(&t); return t
        }
        let e = ConvolutionTraining.forward(a, weight: golden.expandWeight, bias: golden.expandBias, shape: expand)
        let gate = e.map { t -> Tensor in
            var t = t; Activation.sigmoid.apply(&t); return t
        }
        let y = zip(x, gate).map { ChannelOps.scale($0, by: $1.data) }
        #expect(Self.relativeError(y.flatMap(\.data), golden.outputs) <= 1e-6)
        // Backward.
        let products = zip(zip(dy, x), gate).map { ChannelOps.scaleBackward($0.0, input: $0.1, scale: $1.data) }
        let dGate = zip(products, gate).map {
            Tensor(
                channels: channels, height: 1, width: 1,
                data: Activation.sigmoid.backward($0.scale, input: $1.data, output: $1.data))
        }
        let expandBack = ConvolutionTraining.backward(dGate, inputs: a, weight: golden.expandWeight, shape: expand)
        let dR = zip(zip(expandBack.inputs, r), a).map {
            Tensor(
                channels: reduced, height: 1, width: 1,
                data: Activation.swish.backward($0.0.data, input: $0.1.data, output: $1.data))
        }
        let reduceBack = ConvolutionTraining.backward(dR, inputs: squeezed, weight: golden.reduceWeight, shape: reduce)
        let dx = zip(products, reduceBack.inputs).map { product, dSqueezed -> [Float] in
            let spread = ChannelOps.globalAverageBackward(dSqueezed.data, height: golden.shape[2], width: golden.shape[3])
            return zip(product.input.data, spread.data).map { $0 + $1 }
        }
        #expect(Self.relativeError(dx.flatMap { $0 }, golden.dInputs) <= 1e-5)
        #expect(Self.relativeError(expandBack.weight, golden.dExpandWeight) <= 1e-5 && Self.relativeError(expandBack.bias, golden.dExpandBias) <= 1e-5)
        #expect(Self.relativeError(reduceBack.weight, golden.dReduceWeight) <= 1e-5 && Self.relativeError(reduceBack.bias, golden.dReduceBias) <= 1e-5)
    }
}
