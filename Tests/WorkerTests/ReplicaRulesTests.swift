import Shared
import Testing

@testable import Worker

/// A worker replica's rules, without threads or a model.
@Suite struct ReplicaRulesTests {
    @Test func aReplicaRollsBackOrCommitsAsTheCoordinatorSays() {
        #expect(ReplicaRules.start(step: 4, applied: 5, committed: 4) == .rollBack)  // redo an uncommitted step
        #expect(ReplicaRules.start(step: 5, applied: 5, committed: 4) == .commit)  // its last step was committed
        #expect(ReplicaRules.start(step: 5, applied: 5, committed: 5) == .commit)
        #expect(ReplicaRules.start(step: 3, applied: 5, committed: 4) == nil)
        #expect(ReplicaRules.save(step: 5, applied: 5, committed: 4) == true)
        #expect(ReplicaRules.save(step: 4, applied: 5, committed: 4) == false)
        #expect(ReplicaRules.save(step: 3, applied: 5, committed: 4) == nil)
    }

    /// A session given up and joined again for the same run is a new session: a step of the
    /// old one, stuck in an all-reduce with peers that left, is no longer wanted (it once
    /// waited out the ring's 600 s timeout, holding the join behind it).
    @Test func aRejoinedSessionAbandonsTheOldOnesStep() {
        var wanted = ReplicaRules.Wanted()
        wanted.take(.join(Wire.TrainJoin(run: 1, data: "d", weights: nil, settings: "{}")))
        let first = wanted.generation
        wanted.take(.step(Wire.TrainStep(run: 1, step: 3, epoch: 4, rank: 0, ring: ["a"], first: 0, end: 2)))
        #expect(wanted.wants(run: 1, generation: first, epoch: 4))
        wanted.take(.abandon)
        wanted.take(.join(Wire.TrainJoin(run: 1, data: "d", weights: nil, settings: "{}")))
        #expect(wanted.run == 1 && !wanted.wants(run: 1, generation: first, epoch: 4))
        #expect(wanted.wants(run: 1, generation: wanted.generation, epoch: nil))
    }

    /// A trainSave carrying a newer epoch abandons a step of an older one.
    @Test func aSaveOfANewerEpochAbandonsTheOldStep() {
        var wanted = ReplicaRules.Wanted()
        wanted.take(.join(Wire.TrainJoin(run: 1, data: "d", weights: nil, settings: "{}")))
        wanted.take(.step(Wire.TrainStep(run: 1, step: 3, epoch: 4, rank: 0, ring: ["a"], first: 0, end: 2)))
        wanted.take(.save(Wire.TrainSave(run: 1, step: 3, model: false, epoch: 5)))
        #expect(!wanted.wants(run: 1, generation: wanted.generation, epoch: 4))
        wanted.take(.save(Wire.TrainSave(run: 1, step: 3, model: false)))
        #expect(wanted.epoch == 5)
    }
}
