import Testing

@testable import Coordinator

/// The training run's decisions: shares, commits, losses, joins and digests.
@Suite struct TrainingRingTests {
    /// Reports step `step` done by every member of `ring` with the same digest.
    static func finish(_ run: inout TrainingRing, step: Int, ring: [String], digest: String = "d") -> [TrainingRing.Action] {
        ring.flatMap { run.stepDone($0, step: step, epoch: run.epoch, digest: digest) }
    }

    @Test func sharesCoverTheBatchInRingOrder() {
        #expect(TrainingRing.shares(ring: ["a", "b", "c"], batch: 8) == ["a": 0..<2, "b": 2..<5, "c": 5..<8])
        #expect(TrainingRing.shares(ring: ["a", "b"], batch: 8) == ["a": 0..<4, "b": 4..<8])
        #expect(TrainingRing.shares(ring: ["a", "b", "c"], batch: 2) == ["a": 0..<1, "b": 1..<2])
        // Per-replica batch statistics need two images a share: a fourth member waits.
        #expect(TrainingRing.shares(ring: ["a", "b", "c", "d"], batch: 6, minimum: 2) == ["a": 0..<2, "b": 2..<4, "c": 4..<6])
    }

    @Test func theFirstRingFormsWithEveryReadyWorker() {
        var run = TrainingRing(batch: 4, steps: 3, epoch: 7)
        #expect(run.join(["b", "a"]) == [.start(step: 0, epoch: 8, ring: ["a", "b"], shares: ["a": 0..<2, "b": 2..<4])])
        #expect(run.join(["a"]) == [])
    }

    /// When nobody holds the committed state any more, the run goes back to a checkpoint
    /// with the same members under a new epoch.
    @Test func aRewindStartsTheCheckpointsStepAgain() {
        var run = TrainingRing(batch: 4, steps: 10)
        _ = run.join("a")
        for step in 0..<3 { _ = Self.finish(&run, step: step, ring: ["a"]) }
        _ = run.join("b")
        #expect(run.committed == 3)
        let epoch = run.epoch
        #expect(
            run.rewind(to: 2) == [
                .sendState(from: "a", to: "b", step: 2),
                .start(step: 2, epoch: epoch + 1, ring: ["a", "b"], shares: ["a": 0..<2, "b": 2..<4]),
            ])
        #expect(run.committed == 2)
    }

    @Test func stepsCommitWhenEveryMemberReports() {
        var run = TrainingRing(batch: 4, steps: 2)
        #expect(run.join("b") == [.start(step: 0, epoch: 1, ring: ["b"], shares: ["b": 0..<4])])
        #expect(run.join("a") == [])  // waits for the boundary
        let actions = Self.finish(&run, step: 0, ring: ["b"])
        #expect(
            actions == [
                .committed(step: 1), .sendState(from: "b", to: "a", step: 1),
                .start(step: 1, epoch: 2, ring: ["a", "b"], shares: ["a": 0..<2, "b": 2..<4]),
            ])
        #expect(run.stepDone("a", step: 1, epoch: 2, digest: "d") == [])
        #expect(run.stepDone("b", step: 1, epoch: 2, digest: "d") == [.committed(step: 2), .finished])
    }

    @Test func aLostMemberReformsTheRingAndTheStepIsRedone() {
        var run = TrainingRing(batch: 6, steps: 5)
        _ = run.join("a")
        _ = Self.finish(&run, step: 0, ring: ["a"])  // nothing joined: next start
        _ = run.join("b"); _ = run.join("c")
        _ = Self.finish(&run, step: 1, ring: ["a"])
        #expect(run.ring == ["a", "b", "c"] && run.committed == 2)
        // Step 2 in flight: a reports, then c dies.
        #expect(run.stepDone("a", step: 2, epoch: run.epoch, digest: "d") == [])
        let epoch = run.epoch
        #expect(run.lose("c") == [.start(step: 2, epoch: epoch + 1, ring: ["a", "b"], shares: ["a": 0..<3, "b": 3..<6])])
        // A late report of the old epoch changes nothing.
        #expect(run.stepDone("b", step: 2, epoch: epoch, digest: "d") == [])
        #expect(run.committed == 2 && run.pending == ["a", "b"])
        #expect(Self.finish(&run, step: 2, ring: ["a", "b"]).first == .committed(step: 3))
    }

    @Test func losingEveryMemberWaitsAndAJoinerStartsFromTheCommittedStep() {
        var run = TrainingRing(batch: 2, steps: 3, committed: 1)  // a restarted coordinator's checkpoint
        #expect(run.join("a") == [.start(step: 1, epoch: 1, ring: ["a"], shares: ["a": 0..<2])])
        #expect(run.lose("a") == [.waiting])
        #expect(run.join("b") == [.start(step: 1, epoch: 3, ring: ["b"], shares: ["b": 0..<2])])
    }

    @Test func differingReplicasStopTheRun() {
        var run = TrainingRing(batch: 2, steps: 3)
        _ = run.join("a")
        _ = run.join("b")
        _ = Self.finish(&run, step: 0, ring: ["a"])
        #expect(run.stepDone("a", step: 1, epoch: run.epoch, digest: "x") == [])
        let actions = run.stepDone("b", step: 1, epoch: run.epoch, digest: "y")
        guard case .stop(let reason)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(reason.contains("replicas differ at step 2"))
        #expect(run.join("c") == [] && run.lose("a") == [])
    }

    @Test func reportsOfOtherStepsOrStrangersAreIgnored() {
        var run = TrainingRing(batch: 2, steps: 3)
        _ = run.join("a")
        #expect(run.stepDone("z", step: 0, epoch: run.epoch, digest: "d") == [])
        #expect(run.stepDone("a", step: 1, epoch: run.epoch, digest: "d") == [])
        #expect(run.lose("z") == [])
        #expect(run.pending == ["a"])
    }
}
