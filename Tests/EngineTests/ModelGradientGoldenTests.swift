import Core
import Foundation
import TestSupport
import Testing

@testable import Engine

/// Whole-model gradients of EffUnet-b0 and UneXt50 against PyTorch autograd
/// (tools/make_model_gradient_goldens.py): deterministic weights, a batch of 2 images of
/// 64×64, the default loss, batch norms in training mode and frozen, then one AdamW step.
/// Goldens are float64 autograd's values; each tensor's bound is 1e-4 of its scale (1e-5
/// after the step) or, where batch statistics over few values make the problem worse
/// conditioned than that, twice PyTorch's own float32 error.
@Suite(.serialized) struct ModelGradientGoldenTests {
    struct File: Decodable {
        struct Gradient: Decodable { let norm: Double; let scale: Double; let tolerance: Double; let indices: [Int]; let values: [Double] }
        struct Updated: Decodable { let max: Double; let tolerance: Double; let indices: [Int]; let values: [Double] }
        struct Model: Decodable { let loss: Double; let gradients: [String: Gradient]; let updated: [String: Updated] }
        let batch: Int
        let side: Int
        let lr: Double
        let models: [String: Model]
    }

    static let golden: File = {
        let data = FileManager.default.contents(atPath: Golden.directory + "/model_gradients.json")!
        return try! JSONDecoder().decode(File.self, from: data)
    }()

    /// The script's batch: SplitMix64 values seeded by FNV-1a("images"), image b scaled by
    /// 1.5/(1 + 2b) and shifted by b/4; masks are discs.
    static func batch(_ count: Int, side: Int) -> ([Tensor], [[Float]]) {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in "images".utf8 { seed = (seed ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var random = SplitMix64(seed: seed)
        let plane = side * side
        let images = (0..<count).map { b in
            let scale = Float(1.5 / Double(1 + 2 * b)), shift = Float(Double(b) / 4)
            return Tensor(channels: 3, height: side, width: side, data: (0..<(3 * plane)).map { _ in random.nextSigned() * scale + shift })
        }
        let masks = (0..<count).map { b -> [Float] in
            let (cy, cx, r) = ((20 + 8 * b) * side / 64, 30 * side / 64, (12 + 4 * b) * side / 64)
            return (0..<plane).map { i in ((i / side - cy) * (i / side - cy) + (i % side - cx) * (i % side - cx) <= r * r) ? 1 : 0 }
        }
        return (images, masks)
    }

    static func trainer(_ architecture: String) throws -> ModelTrainer {
        let store = try ParameterStore(architecture: architecture)
        try store.load(from: DeterministicWeights())
        return try ModelTrainer(architecture: architecture, store: store)
    }

    @Test(arguments: ["effunet-b0 batch", "effunet-b0 frozen", "unext50 batch", "unext50 frozen"])
    func gradientsAndOneAdamWStepMatchPyTorch(_ name: String) throws {
        let parts = name.split(separator: " ")
        let golden = try #require(Self.golden.models[name])
        let trainer = try Self.trainer(String(parts[0]))
        let (images, masks) = Self.batch(Self.golden.batch, side: Self.golden.side)
        let (loss, _) = try trainer.gradients(images: images, masks: masks, normalisation: parts[1] == "frozen" ? .frozen : .batch())
        #expect(abs(loss - golden.loss) / golden.loss <= 1e-5, "loss \(loss) vs \(golden.loss)")

        let store = trainer.store
        #expect(Set(golden.gradients.keys) == Set(store.entries.filter(\.isParameter).map(\.key)), "the parameters PyTorch trains")
        var worst = (error: 0.0, key: "")
        for (key, expected) in golden.gradients {
            let entry = try #require(store.entry(key))
            let g = store.gradients[entry.range]
            // Sampled entries against the tensor's scale, the norm against the norm.
            var relative = abs(g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() - expected.norm) / max(expected.norm, expected.scale)
            for (i, value) in zip(expected.indices, expected.values) {
                relative = max(relative, abs(Double(g[entry.range.lowerBound + i]) - value) / expected.scale)
            }
            #expect(relative <= expected.tolerance, "\(key): \(relative) of its scale, bound \(expected.tolerance)")
            if relative > worst.error { worst = (relative, key) }
        }
        print("\(name): worst gradient error \(worst.error) (\(worst.key))")

        trainer.step(lr: Self.golden.lr)
        for (key, expected) in golden.updated {
            guard let entry = store.entry(key) else { continue }
            let error = zip(expected.indices, expected.values).map { abs(Double(store.values[entry.range.lowerBound + $0]) - $1) }.max()!
            #expect(error / expected.max <= expected.tolerance, "\(key) after the step: \(error / expected.max), bound \(expected.tolerance)")
        }
    }

    @Test func gradientsAreTheSameBitsWhateverTheThreadCount() throws {
        let (images, masks) = Self.batch(2, side: 64)
        let results: [[Float]] = try KernelBuildLock.holdingTheBuild {
            try [1, 2, 3].map { threads in
                let saved = Parallel.threads
                Parallel.threads = threads
                defer { Parallel.threads = saved }
                let trainer = try Self.trainer("effunet-b0")
                try trainer.gradients(images: images, masks: masks)
                return trainer.store.gradients + trainer.store.values
            }
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }
}
