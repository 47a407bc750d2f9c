import EngineKernels
import EngineKernelsHaswell
import EngineKernelsSkylakeX
import TestSupport
import Testing

@testable import Engine

/// The engine against PyTorch on the same weights and inputs: max|Δ| / max|y| per output.
@Suite struct GoldenTests {
    @Test(arguments: ["10x14", "17x23", "5x7", "3x4"])
    func bilinearMatchesPyTorch(size: String) {
        let x = Golden.tensor("layers_input")
        let dims = size.split(separator: "x").map { Int($0)! }
        for (aligned, name) in [(false, "half"), (true, "aligned")] {
            let y = Resampling.bilinear(x, height: dims[0], width: dims[1], alignCorners: aligned)
            let error = relativeError(y.data, Golden.tensor("bilinear_\(name)_\(size)").data)
            #expect(error < 1e-6, "bilinear \(name) \(size): \(error)")
        }
    }

    @Test func pixelShuffleAndMaxPoolMatchPyTorch() {
        #expect(Resampling.pixelShuffle(Golden.tensor("shuffle_input"), factor: 2) == Golden.tensor("shuffle_output"))
        #expect(Pooling.max(Golden.tensor("layers_input"), kernel: 3, stride: 2, padding: 1) == Golden.tensor("maxpool_output"))
    }

    @Test(arguments: ["b0", "b5"])
    func efficientNetFeaturesMatchPyTorch(variant: String) throws {
        let encoder = try InferenceNetwork(EfficientNetEncoder(variant: .named(variant)!, prefix: ""), weights: DeterministicWeights())
        let features = encoder.outputs(Golden.tensor("effnet_\(variant)_input"))
        #expect(features.count == 5)
        for (level, feature) in features.enumerated() {
            let golden = Golden.tensor("effnet_\(variant)_feature\(level)")
            #expect([feature.channels, feature.height, feature.width] == [golden.channels, golden.height, golden.width])
            let error = relativeError(feature.data, golden.data)
            print("EfficientNet-\(variant) feature \(level) (\(golden.channels)×\(golden.height)×\(golden.width)): max|Δ|/max|y| = \(error)")
            #expect(error < 1e-4, "EfficientNet-\(variant) feature \(level): \(error)")
        }
    }
}

/// The two seed U-Nets end to end, on deterministic weights.
@Suite struct NetworkGoldenTests {
    @Test func effUnetB0MatchesPyTorch() throws {
        let weights = DeterministicWeights()
        let network = try CNNModel.network(.effUnet(.named("b0")!), weights: weights)
        let logits = network.logits(Golden.tensor("effunet_b0_input"))
        let error = relativeError(logits.data, Golden.tensor("effunet_b0_logits").data)
        print("EffUnet-b0 logits (64×64): max|Δ|/max|y| = \(error)")
        #expect(error < 1e-4)
    }

    @Test func uneXt50EncoderStagesMatchPyTorch() throws {
        let encoder = try InferenceNetwork(ResNeXtEncoder(), weights: DeterministicWeights())
        for (level, feature) in encoder.outputs(Golden.tensor("unext50_input")).enumerated() {
            let golden = Golden.tensor("unext50_feature\(level)")
            #expect([feature.channels, feature.height, feature.width] == [golden.channels, golden.height, golden.width])
            let error = relativeError(feature.data, golden.data)
            print("UneXt50 enc\(level) (\(golden.channels)×\(golden.height)×\(golden.width)): max|Δ|/max|y| = \(error)")
            #expect(error < 1e-4)
        }
    }

    @Test func uneXt50MatchesPyTorch() throws {
        let network = try CNNModel.network(.unext50, weights: DeterministicWeights())
        let input = Golden.tensor("unext50_input")
        let logits = network.logits(input)
        let error = relativeError(logits.data, Golden.tensor("unext50_logits").data)
        print("UneXt50 logits (64×64): max|Δ|/max|y| = \(error)")
        #expect(error < 1e-4)
    }
}

/// Tests that switch process-wide settings (thread count, kernel build) run one at a time,
/// or one would see the other's setting: the builds differ in the last bits.
@Suite(.serialized) struct ProcessWideSettingTests {
    /// Work is cut into tasks by shape alone, so the thread count never changes a bit of the
    /// result (the cluster's masks are bit-identical whatever each worker's --threads).
    @Suite struct ThreadCountTests {
        @Test(arguments: ["effunet-b0", "unext50"])
        func logitsDoNotDependOnTheThreadCount(model: String) throws {
            let network = try CNNModel.network(model, weights: DeterministicWeights())
            let input = Golden.tensor(model == "unext50" ? "unext50_input" : "effunet_b0_input")
            let saved = Parallel.threads
            defer { Parallel.threads = saved }
            let (one, three) = KernelBuildLock.holdingTheBuild {
                Parallel.threads = 1
                let one = network.logits(input)
                Parallel.threads = 3
                return (one, network.logits(input))
            }
            #expect(one.data == three.data)
        }
    }

    /// The baseline and AVX2 builds of the innermost loops compute the same thing; the AVX2
    /// build fuses multiply-adds, so they agree to float rounding, not bit for bit. The
    /// AVX-512 build gives the AVX2 build's bits exactly.
    @Suite struct KernelBuildTests {
        /// `network`'s logits of `input` with each of `builds` running.
        static func logits(_ network: InferenceNetwork, _ input: Tensor, builds: [KernelSet.Build]) -> [Tensor] {
            KernelBuildLock.switchingTheBuild {
                let saved = KernelSet.build
                defer { KernelSet.build = saved }
                return builds.map { build in
                    KernelSet.build = build
                    return network.logits(input)
                }
            }
        }

        static func input(_ model: String) -> Tensor { Golden.tensor(model == "unext50" ? "unext50_input" : "effunet_b0_input") }

        @Test(.enabled(if: KernelSet.cpuHasAVX2AndFMA, "this CPU cannot run the AVX2 build"), arguments: ["effunet-b0", "unext50"])
        func bothBuildsAgree(model: String) throws {
            let network = try CNNModel.network(model, weights: DeterministicWeights())
            let maps = Self.logits(network, Self.input(model), builds: [.baseline, .avx2])
            let error = relativeError(maps[1].data, maps[0].data)
            print("\(model) logits, AVX2 against baseline build: max|Δ|/max|y| = \(error)")
            #expect(error < 2e-6 && error > 0, "\(error)")  // > 0: the AVX2 build really fused
        }

        @Test(.enabled(if: KernelSet.cpuHasAVX512, "this CPU cannot run the AVX-512 build"), arguments: ["effunet-b0", "unext50"])
        func theAVX512BuildGivesTheAVX2BuildsBits(model: String) throws {
            let network = try CNNModel.network(model, weights: DeterministicWeights())
            let maps = Self.logits(network, Self.input(model), builds: [.avx2, .avx512])
            #expect(maps[0].data.map(\.bitPattern) == maps[1].data.map(\.bitPattern))
        }

        /// The build a `TESSERA_KERNELS` value gives on each kind of CPU.
        @Test func aRequestedBuildIsACap() {
            typealias B = KernelSet.Build
            let cases: [(String?, B, B)] = [
                (nil, .avx512, .avx512), ("", .avx2, .avx2), ("AVX2", .avx512, .avx2), ("avx2", .baseline, .baseline),
                ("avx512", .avx2, .avx2), ("baseline", .avx512, .baseline), ("sse", .avx512, .avx512),
            ]
            for (requested, widest, expected) in cases {
                #expect(KernelSet.build(requested: requested, widest: widest) == expected, "\(requested ?? "unset") on \(widest)")
            }
            #expect(KernelSet.problem(requested: "sse") != nil && KernelSet.problem(requested: "Baseline") == nil && KernelSet.problem(requested: nil) == nil)
        }

        static let extremes: [Float] = {
            var values = Values(seed: 11)
            return values.array(1000).map { $0 * 30 } + [0, -0, 1e-30, -1e-30, 88, -88, 100, -100, 87.9, -87.1, .nan]
        }()

        @Test(.enabled(if: KernelSet.cpuHasAVX2AndFMA, "this CPU cannot run the AVX2 build"))
        func activationsAgreeOnExtremes() {
            for activation in 0..<4 {
                var a = Self.extremes, b = Self.extremes
                a.withUnsafeMutableBufferPointer { EngineKernels.Kernels.activate($0.baseAddress!, count: $0.count, bias: 0.25, activation: activation) }
                b.withUnsafeMutableBufferPointer { EngineKernelsHaswell.Kernels.activate($0.baseAddress!, count: $0.count, bias: 0.25, activation: activation) }
                for (x, y) in zip(a, b) {
                    #expect(x.isNaN ? y.isNaN : abs(x - y) <= 1e-6 * max(1, abs(x)), "activation \(activation): \(x) against \(y)")
                }
            }
        }

        /// Each activation and its gradient, in every form, the same bits from both fused builds.
        @Test(.enabled(if: KernelSet.cpuHasAVX512, "this CPU cannot run the AVX-512 build"))
        func activationsOfTheAVX512BuildAreTheAVX2BuildsBits() {
            let x = Self.extremes, gradient = Array(Self.extremes.reversed())
            func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
            for activation in 0..<4 {
                var a = x, b = x, sumA = x, sumB = x, backA = x, backB = x
                let y = x.map { $0 * 0.5 }
                a.withUnsafeMutableBufferPointer { EngineKernelsHaswell.Kernels.activate($0.baseAddress!, count: $0.count, bias: 0.25, activation: activation) }
                b.withUnsafeMutableBufferPointer {
                    EngineKernelsSkylakeX.Kernels.activate($0.baseAddress!, count: $0.count, bias: 0.25, activation: activation)
                }
                sumA.withUnsafeMutableBufferPointer {
                    EngineKernelsHaswell.Kernels.activate($0.baseAddress!, adding: gradient, count: $0.count, bias: 0.5, activation: activation)
                }
                sumB.withUnsafeMutableBufferPointer {
                    EngineKernelsSkylakeX.Kernels.activate($0.baseAddress!, adding: gradient, count: $0.count, bias: 0.5, activation: activation)
                }
                backA.withUnsafeMutableBufferPointer {
                    EngineKernelsHaswell.Kernels.activationBackward(
                        gradient, input: x, output: y, count: x.count, activation: activation, into: $0.baseAddress!)
                }
                backB.withUnsafeMutableBufferPointer {
                    EngineKernelsSkylakeX.Kernels.activationBackward(
                        gradient, input: x, output: y, count: x.count, activation: activation, into: $0.baseAddress!)
                }
                #expect(bits(a) == bits(b), "activation \(activation)")
                #expect(bits(sumA) == bits(sumB), "activation \(activation) after a residual")
                #expect(bits(backA) == bits(backB), "activation \(activation)'s gradient")
            }
        }
    }
}
