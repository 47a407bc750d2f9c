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
        let encoder = try EfficientNetEncoder(variant: .named(variant)!, weights: DeterministicWeights(), prefix: "")
        let features = encoder.features(Golden.tensor("effnet_\(variant)_input"))
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
