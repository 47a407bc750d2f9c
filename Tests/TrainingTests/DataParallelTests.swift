import Core
import Foundation
import Shared
import TestSupport
import Testing
import Worker
import ZeroMQ

@testable import Engine
@testable import Training

/// Data-parallel steps of 2 and 3 replicas, one thread each with one engine thread, summing
/// over a real ring on loopback, against one process computing the whole global batch.
@Suite(.serialized) struct DataParallelTests {
    /// The global batch: 6 images of 64², disc masks.
    static func batch() -> ([Tensor], [[Float]]) {
        var random = SplitMix64(seed: 21)
        let images = (0..<6).map { b in
            Tensor(channels: 3, height: 64, width: 64, data: (0..<(3 * 4096)).map { _ in random.nextSigned() * Float(1 + b % 3) })
        }
        let masks = (0..<6).map { b in
            (0..<4096).map { i -> Float in
                let (y, x) = (i / 64 - 20 - 3 * b, i % 64 - 32)
                return y * y + x * x <= (8 + 2 * b) * (8 + 2 * b) ? 1 : 0
            }
        }
        return (images, masks)
    }

    static func trainer() throws -> ModelTrainer {
        let store = try ParameterStore(architecture: "effunet-b0")
        try store.load(from: DeterministicWeights())
        return try ModelTrainer(architecture: "effunet-b0", store: store)
    }

    /// Each replica's summed gradients and values after one step, and the global loss it saw.
    static func replicas(
        shares: [Range<Int>], normalisation: Tape.Normalisation, bucketBytes: Int? = nil, synchronised: Bool = false
    ) throws
        -> [(gradients: [Float], values: [Float], loss: Double)]
    {
        let (images, masks) = batch()
        let ring = try LocalRing(members: shares.count)
        let trainers = try shares.map { _ in UncheckedBox(try trainer()) }
        let saved = Parallel.threads
        Parallel.threads = 1
        defer { Parallel.threads = saved }
        // Replicas compare bit for bit: the kernel build holds still while they run.
        return try KernelBuildLock.holdingTheBuild {
            try ring.run { member in
                let trainer = trainers[member.rank].value, share = shares[member.rank]
                let loss = try DataParallelStep.gradients(
                    trainer, images: Array(images[share]), masks: Array(masks[share]), globalCount: 6,
                    normalisation: normalisation, randoms: nil, replicas: member, step: 0,
                    bucketBytes: bucketBytes, synchronisedBatchNorm: synchronised)
                let gradients = trainer.store.gradients
                trainer.step(lr: 1e-3)
                try DataParallelStep.averageRunningStatistics(trainer, shareCount: share.count, globalCount: 6, replicas: member, step: 0)
                return (gradients: gradients, values: trainer.store.values, loss: loss)
            }.map { try $0.get() }
        }
    }

    /// The largest max|Δ|/max|g| over the model's parameter tensors.
    static func worst(_ a: [Float], _ b: [Float], store: ParameterStore, floor: Double = 0) -> Double {
        store.entries.filter(\.isParameter).map { entry -> Double in
            let top = max(floor, store.gradients.isEmpty ? 0 : b[entry.range].map { abs(Double($0)) }.max()!)
            let error = zip(a[entry.range], b[entry.range]).map { abs(Double($0) - Double($1)) }.max()!
            return top > 0 ? error / top : error
        }.max()!
    }

    @Test(arguments: [[0..<3, 3..<6], [0..<2, 2..<4, 4..<6], [0..<5, 5..<6]])
    func withFrozenNormsTheAverageIsTheGlobalBatchsGradient(_ shares: [Range<Int>]) throws {
        let (images, masks) = Self.batch()
        let single = try Self.trainer()
        let (loss, _) = try single.gradients(images: images, masks: masks, normalisation: .frozen)
        let replicas = try Self.replicas(shares: shares, normalisation: .frozen)
        for replica in replicas {
            #expect(abs(replica.loss - loss) / loss <= 1e-5)
            let error = Self.worst(replica.gradients, single.store.gradients, store: single.store)
            #expect(error <= 1e-5, "\(shares.count) replicas: \(error)")
            print("shares \(shares.map(\.count)): worst max|Δ|/max|g| \(error), loss \(abs(replica.loss - loss) / loss)")
        }
        // Every replica applied the same update: the same bits.
        #expect(replicas.allSatisfy { $0.values == replicas[0].values && $0.gradients == replicas[0].gradients })
    }

    /// Buckets summed while the backward pass runs give the same sums, to rounding (each
    /// value's chunk, and so its order of addition, depends on the bucketing).
    @Test(arguments: [64 << 10, 4 << 20])
    func bucketsSummedDuringBackwardGiveTheGlobalGradient(bytes: Int) throws {
        let (images, masks) = Self.batch()
        let single = try Self.trainer()
        try single.gradients(images: images, masks: masks, normalisation: .frozen)
        let replicas = try Self.replicas(shares: [0..<3, 3..<6], normalisation: .frozen, bucketBytes: bytes)
        let error = Self.worst(replicas[0].gradients, single.store.gradients, store: single.store)
        #expect(error <= 1e-5, "buckets of \(bytes) bytes: \(error)")
        #expect(replicas.allSatisfy { $0.values == replicas[0].values && $0.gradients == replicas[0].gradients })
    }

    /// With batch statistics each replica normalises with its own share's: the sum is the
    /// average of the shares' own gradients (weighted), and replicas stay bit-identical.
    @Test func withBatchStatisticsTheAverageIsTheSharesAverage() throws {
        let (images, masks) = Self.batch()
        let shares = [0..<2, 2..<6]
        var expected = [Float]()
        for share in shares {
            let trainer = try Self.trainer()
            try trainer.gradients(images: Array(images[share]), masks: Array(masks[share]))
            let weight = Float(Double(share.count) / 6)
            let scaled = trainer.store.gradients.map { $0 * weight }
            expected = expected.isEmpty ? scaled : zip(expected, scaled).map { $0 + $1 }
        }
        let replicas = try Self.replicas(shares: shares, normalisation: .batch())
        let store = try Self.trainer().store
        #expect(Self.worst(replicas[0].gradients, expected, store: store) <= 1e-6)
        #expect(replicas.allSatisfy { $0.values == replicas[0].values && $0.gradients == replicas[0].gradients })
    }

    /// Synchronised batch norm: every replica normalises with the global batch's statistics
    /// and sums its backward reductions over the ring, so in training mode too the sum is one
    /// process's gradient over the global batch — to float rounding, which batch statistics
    /// of 2×2 maps amplify (docs/TRAINING.md); without synchronisation it is far from it. A
    /// share of one image is possible then.
    @Test(arguments: [[0..<6], [0..<3, 3..<6], [0..<2, 2..<4, 4..<6], [0..<5, 5..<6]])
    func withSynchronisedBatchNormTheSumIsTheGlobalBatchsGradient(_ shares: [Range<Int>]) throws {
        let (images, masks) = Self.batch()
        let single = try Self.trainer()
        let (loss, _) = try single.gradients(images: images, masks: masks, normalisation: .batch())
        let synchronised = try Self.replicas(shares: shares, normalisation: .batch(), synchronised: true)
        // Per replica, a share of one image has no batch statistics to speak of: refused.
        let own = shares.allSatisfy { $0.count >= 2 } ? try Self.replicas(shares: shares, normalisation: .batch()) : synchronised
        // Biases of batch norms whose output another batch norm normalises again (EfficientNet's
        // `_bn2`) have a gradient of exactly 0 in exact arithmetic: float noise of 1e-8 here.
        // Errors are relative to the tensor's largest gradient, or 1e-4 of the model's largest.
        let floor = 1e-4 * single.store.gradients.map { abs(Double($0)) }.max()!
        let error = Self.worst(synchronised[0].gradients, single.store.gradients, store: single.store, floor: floor)
        let ownError = Self.worst(own[0].gradients, single.store.gradients, store: single.store, floor: floor)
        print(
            "shares \(shares.map(\.count)), batch statistics: synchronised \(error), per replica \(ownError), loss \(abs(synchronised[0].loss - loss) / loss)")
        #expect(abs(synchronised[0].loss - loss) / loss <= 1e-5)
        #expect(error <= 2e-3, "\(error)")
        if shares.count > 1 && shares.allSatisfy({ $0.count >= 2 }) { #expect(ownError >= 20 * error, "\(ownError) against \(error)") }
        // Running statistics: the global batch's, as one process updates them.
        let buffers = single.store.entries.filter { !$0.isParameter }
        for entry in buffers {
            let a = synchronised[0].values[entry.range], b = single.store.values[entry.range]
            let top = b.map { abs($0) }.max()!
            #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-4 * max(1, top), "\(entry.key)")
        }
        #expect(synchronised.allSatisfy { $0.values == synchronised[0].values && $0.gradients == synchronised[0].gradients })
    }

    /// Buckets and their communication thread are freed once their step is summed: a cycle
    /// between them once kept every step's 30 MB of bucket sums in a worker.
    @Test func bucketsAreFreedAfterTheirStep() throws {
        weak var freed: GradientBuckets?
        let trainer = try Self.trainer()
        let ring = try LocalRing(members: 1)
        try {
            let buckets = GradientBuckets(store: trainer.store, bytes: 1 << 20, replicas: ring.members[0], weight: 1, step: 0)
            freed = buckets
            try buckets.finish()
        }()
        for _ in 0..<200 where freed != nil { usleep(10_000) }
        #expect(freed == nil)
    }
}
