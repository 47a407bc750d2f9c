import Core
import Engine
import Foundation
import Segmentation
import Shared
import TestSupport
import Testing
import Training
import Worker
import ZeroMQ

/// Horovod-Elastic semantics on replicas over real rings: a member lost in the middle of a
/// step, the survivors roll back to the committed state and redo that step in a smaller
/// ring; the result equals, bit for bit, a run whose ring was the smaller one from that
/// step on. (The coordinator's side, `TrainingRing`, is tested in CoordinatorTests.)
@Suite(.serialized) struct ReplicaFaultTests {
    static func settings() -> TrainingSettings {
        var settings = TrainingSettings()
        settings.steps = 4
        settings.batch = 6
        settings.tile = 32
        settings.scale = 2
        return settings
    }

    static func replicas(_ count: Int, data: String) throws -> [TrainingReplica] {
        let settings = Self.settings()
        let slides = try TrainingSet(folder: data).slides
        var tiles = TileDataset.Settings()
        tiles.tile = 32
        return try (0..<count).map { _ in
            let store = try ParameterStore(architecture: "effunet-b0")
            try store.load(from: DeterministicWeights())
            let trainer = try ModelTrainer(architecture: "effunet-b0", store: store)
            return TrainingReplica(trainer: trainer, data: try TileDataset(slides: slides, settings: tiles, seed: settings.seed), settings: settings)
        }
    }

    /// Runs `step` on `members` (indices into `replicas`) joined in a fresh ring; `absent`
    /// members of the ring never take part (a killed worker). Each result in member order.
    static func step(
        _ replicas: [TrainingReplica], members: [Int], absent: Set<Int> = [], step: Int, timeout: Int = 10_000
    )
        throws -> [Result<String, Error>]
    {
        let order = members + absent.sorted()
        let ring = try LocalRing(members: order.count)
        for member in ring.members { member.timeoutMilliseconds = timeout }
        let shares = (0..<order.count).map { r in (r * 6 / order.count)..<((r + 1) * 6 / order.count) }
        let boxes = order.map { UncheckedBox(replicas[$0]) }
        let saved = Parallel.threads
        Parallel.threads = 1
        defer { Parallel.threads = saved }
        return ring.run(ranks: Array(members.indices)) { member in
            try boxes[member.rank].value.run(step: step, share: shares[member.rank], replicas: member).digest
        }
    }

    @Test func survivorsRedoTheStepAndEqualARunWithTheSmallerRing() throws {
        try KernelBuildLock.holdingTheBuild { try survivorsRedoTheStepAndEqualARunWithTheSmallerRingWithTheBuildHeld() }
    }

    private func survivorsRedoTheStepAndEqualARunWithTheSmallerRingWithTheBuildHeld() throws {
        let data = try TemporaryDirectory()
        for seed in [1, 2] as [UInt64] { _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 384, height: 384, seed: seed), to: data.path) }

        // Three replicas for steps 0 and 1; in step 2 the third is killed: the others time out.
        let faulted = try Self.replicas(3, data: data.path)
        for s in 0..<2 {
            let digests = try Self.step(faulted, members: [0, 1, 2], step: s).map { try $0.get() }
            #expect(Set(digests).count == 1)
            faulted.forEach { $0.commit() }
        }
        let broken = try Self.step(faulted, members: [0, 1], absent: [2], step: 2, timeout: 500)
        #expect(broken.allSatisfy { if case .failure = $0 { true } else { false } })
        // The coordinator re-forms the ring of the survivors; they roll back and redo step 2.
        for replica in faulted.prefix(2) { replica.rollBack() }
        for s in 2..<4 {
            let digests = try Self.step(faulted, members: [0, 1], step: s).map { try $0.get() }
            #expect(Set(digests).count == 1)
            faulted.prefix(2).forEach { $0.commit() }
        }

        // The reference: three replicas for steps 0 and 1, two from step 2 on, no fault.
        let reference = try Self.replicas(3, data: data.path)
        for s in 0..<2 { _ = try Self.step(reference, members: [0, 1, 2], step: s) }
        for s in 2..<4 { _ = try Self.step(reference, members: [0, 1], step: s) }
        #expect(faulted[0].trainer.store.values == reference[0].trainer.store.values)
        #expect(faulted[0].trainer.optimizerState == reference[0].trainer.optimizerState)
        #expect(faulted[1].trainer.store.values == faulted[0].trainer.store.values)
        #expect(faulted[0].step == 4)
    }

    /// A worker joining at a step boundary takes the committed state from a member (the two
    /// files a checkpoint holds, in memory) and the ring goes on with identical replicas.
    @Test func aJoinerTakesTheCommittedStateAndStaysIdentical() throws {
        try KernelBuildLock.holdingTheBuild { try aJoinerTakesTheCommittedStateAndStaysIdenticalWithTheBuildHeld() }
    }

    private func aJoinerTakesTheCommittedStateAndStaysIdenticalWithTheBuildHeld() throws {
        let data = try TemporaryDirectory()
        for seed in [1, 2] as [UInt64] { _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 384, height: 384, seed: seed), to: data.path) }
        let replicas = try Self.replicas(2, data: data.path)
        for s in 0..<2 {
            _ = try Self.step(replicas, members: [0], step: s).map { try $0.get() }
            replicas[0].commit()
        }
        let (weights, optimizer, step) = try replicas[0].committedState()
        #expect(step == 2)
        try replicas[1].load(weights: weights, optimizer: optimizer, step: step)
        #expect(replicas[1].trainer.store.values == replicas[0].trainer.store.values)
        #expect(replicas[1].trainer.optimizerState == replicas[0].trainer.optimizerState)
        for s in 2..<4 {
            let digests = try Self.step(replicas, members: [0, 1], step: s).map { try $0.get() }
            #expect(digests.count == 2 && Set(digests).count == 1)
            replicas.forEach { $0.commit() }
        }
    }
}
