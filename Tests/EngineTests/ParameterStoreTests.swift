import Core
import Foundation
import TestSupport
import Testing

@testable import Engine

/// The flat parameter store: layout, groups, checkpoints, and the network built from it.
@Suite struct ParameterStoreTests {
    @Test func effUnetB0IsOneBufferSlicedByKey() throws {
        let store = try ParameterStore(architecture: "effunet-b0")
        #expect(store.entries.count == 417 && store.values.count == 7_610_813 && store.gradients.count == store.values.count)
        // Contiguous, in loading order, no gaps.
        #expect(zip(store.entries, store.entries.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound })
        let stem = try #require(store.entry("encoder._conv_stem.weight"))
        #expect(stem.range == 0..<864 && stem.shape == [32, 3, 3, 3] && stem.isParameter && stem.decays)
        let gain = try #require(store.entry("encoder._bn0.weight")), mean = try #require(store.entry("encoder._bn0.running_mean"))
        #expect(gain.isParameter && !gain.decays && !mean.isParameter && !mean.decays)
        #expect(store.entries.filter { $0.key.hasSuffix(".bias") }.allSatisfy { $0.isParameter && !$0.decays })
    }

    @Test func aCheckpointRoundTripsAndBuildsTheSameNetwork() throws {
        let folder = try TemporaryDirectory()
        let temporary = folder.path
        let store = try ParameterStore(architecture: "effunet-b0")
        try store.load(from: DeterministicWeights())
        try store.write(to: temporary + "/checkpoint.safetensors")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary) == ["checkpoint.safetensors"])
        let again = try ParameterStore(architecture: "effunet-b0")
        try again.load(from: try SafeTensorsWeights(path: temporary + "/checkpoint.safetensors"))
        #expect(again.values == store.values)
        // The network from the store computes what the network from the file computes.
        let fromStore = try CNNModel(architecture: "effunet-b0", weights: store)
        let fromFile = try CNNModel(architecture: "effunet-b0", weights: try SafeTensorsWeights(path: temporary + "/checkpoint.safetensors"))
        var random = SplitMix64(seed: 1)
        let tile = PixelImage(width: 64, height: 64, channels: 3, pixels: (0..<(64 * 64 * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        #expect(try fromStore.predict(tile) == fromFile.predict(tile))
    }

    /// Metadata travels in the header's `__metadata__`, readable without the tensors.
    @Test func metadataRoundTrips() throws {
        let folder = try TemporaryDirectory()
        let data = try SafeTensors.encode([("a", [2], [1, 2])], metadata: ["pixel_size": "0.998"])
        try data.write(to: URL(fileURLWithPath: folder.file("m.safetensors")))
        let file = try SafeTensors(path: folder.file("m.safetensors"))
        #expect(try file.metadata == ["pixel_size": "0.998"] && file.names == ["a"] && file.floats("a") == [1, 2])
        #expect(SafeTensors.trainedPixelSize(atPath: folder.file("m.safetensors")) == 0.998)
        try SafeTensors.encode([("a", [1], [1])]).write(to: URL(fileURLWithPath: folder.file("plain.safetensors")))
        #expect(SafeTensors.metadata(atPath: folder.file("plain.safetensors")).isEmpty)
        #expect(SafeTensors.trainedPixelSize(atPath: folder.file("missing.safetensors")) == nil)
    }

    @Test func aShapeThatDoesNotFitIsAClearError() throws {
        let store = ParameterStore(shapes: [("a.weight", [2, 3])])
        #expect(throws: TesseraError.self) { try store.take("a.weight", shape: [3, 2]) }
        #expect(throws: TesseraError.self) { try store.take("b.weight", shape: [1]) }
    }

    /// Float16 files (bundled members) hold each value rounded to nearest, load as float32
    /// wherever weights load, and a model from one predicts close to the float32 model.
    @Test func float16WeightsLoadAsTheirRoundedValues() throws {
        let folder = try TemporaryDirectory()
        let values: [Float] = [0, -0.0, 1, 1.0 / 3, -2.5e-3, 6e-8, 65504, .infinity]
        let file = try SafeTensors(data: try SafeTensors.encode([("a", [8], values)], metadata: ["k": "v"], precision: .float16))
        #expect(file.entries["a"]?.dtype == "F16" && file.metadata == ["k": "v"])
        #expect(try file.floats("a").map(\.bitPattern) == values.map { Float(Float16($0)).bitPattern })
        #expect(try file.floats("a")[3] != values[3], "1/3 is rounded")
        // Beyond float16's range is refused, naming the tensor, rather than stored as infinity.
        #expect { try SafeTensors.encode([("big", [1], [70000])], precision: .float16) } throws: { error in
            "\(error)".contains("big") && "\(error)".contains("float16")
        }

        let store = try ParameterStore(architecture: "effunet-b0")
        try store.load(from: DeterministicWeights())
        let tensors = store.entries.map { (name: $0.key, shape: $0.shape, values: Array(store.values[$0.range])) }
        try SafeTensors.write(tensors, to: folder.file("b0.f16.safetensors"), precision: .float16)
        let size = try #require(FileManager.default.attributesOfItem(atPath: folder.file("b0.f16.safetensors"))[.size] as? Int)
        #expect(size < 2 * store.values.count + 100_000, "\(size) bytes: two a value")
        let half = try CNNModel(architecture: "effunet-b0", weights: try SafeTensorsWeights(path: folder.file("b0.f16.safetensors")))
        let full = try CNNModel(architecture: "effunet-b0", weights: store)
        let input = Tensor(channels: 3, height: 64, width: 64, data: (0..<(3 * 64 * 64)).map { Float(($0 * 7919) % 255) / 255 - 0.5 })
        let error = relativeError(half.network.logits(input).data, full.network.logits(input).data)
        print("EffUnet-b0 logits from float16 weights: max|Δ|/max|y| = \(error)")
        #expect(error > 0 && error < 2e-2, "\(error)")
    }
}
