import Testing

@testable import Coordinator

/// The coordinator's decisions for a training run, without sockets or files.
@Suite struct TrainingRunMachineTests {
    /// A run of batch 6 (shares of at least 2: at most 3 members compute) with workers ready.
    static func machine(_ ids: [String], steps: Int = 10, checkpointEvery: Int = 3) -> (TrainingRunMachine, [TrainingRunMachine.Action]) {
        var machine = TrainingRunMachine(batch: 6, steps: steps, checkpointEvery: checkpointEvery, validateEvery: 0, minimumShare: 2, firstRingPatience: 5)
        for id in ids { machine.invite(id) }
        var actions: [TrainingRunMachine.Action] = []
        for id in ids { actions += machine.ready(id, endpoint: "ring-" + id, now: 0) }
        return (machine, actions)
    }

    static func steps(_ actions: [TrainingRunMachine.Action]) -> [String] {
        actions.compactMap { if case .step(let member, _, _, _, _, _) = $0 { member } else { nil } }
    }

    /// The step-0 checkpoint is asked for before the first step; once written, every member starts.
    @Test func theFirstStepWaitsForTheInitialCheckpoint() {
        var (machine, actions) = Self.machine(["a", "b"])
        #expect(actions.contains(.askState(member: "a", step: 0, model: false, epoch: 1)))
        #expect(Self.steps(actions).isEmpty)
        actions = machine.stateReceived(from: "a", step: 0, hasModel: false)
        #expect(actions == [.writeCheckpoint(step: 0, model: false)])
        #expect(Self.steps(machine.checkpointWritten(step: 0)) == ["a", "b"])
    }

    /// A member of the ring without a share holds the committed state as every member does
    /// (it was in the ring at the commit only as a waiter: it does not), and a member with
    /// the state supplies it: no needless rewind (simulator seed 7307).
    @Test func aHolderOutsideTheSharesSuppliesTheState() {
        var (machine, _) = Self.machine(["d"])
        _ = machine.stateReceived(from: "d", step: 0, hasModel: false)
        _ = machine.checkpointWritten(step: 0)
        for id in ["a", "b", "c"] { machine.invite(id); _ = machine.ready(id, endpoint: "ring-" + id, now: 1) }
        // d commits step 1 alone; a, b, c join: the ring of 4 gives shares to a, b, c only.
        let actions = machine.done("d", step: 0, epoch: 1, digest: "x")
        #expect(actions.contains(.askState(member: "d", step: 1, model: false, epoch: 2)), "\(actions)")
        #expect(!actions.contains(.rewound(to: 0)))
    }

    /// After going back to the checkpoint, what members held of the undone history is not
    /// taken as current: they are sent the checkpoint (simulator seed 7307).
    @Test func aRewindForgetsTheUndoneHistory() {
        var (machine, _) = Self.machine(["a", "b"], checkpointEvery: 5)
        _ = machine.stateReceived(from: "a", step: 0, hasModel: false)
        _ = machine.checkpointWritten(step: 0)
        _ = machine.done("a", step: 0, epoch: 1, digest: "x")
        _ = machine.done("b", step: 0, epoch: 1, digest: "x")  // a and b hold step 1
        // b is lost mid-step 2, then a: nobody holds step 1, back to the checkpoint at 0.
        _ = machine.lost("b")
        machine.invite("c")
        _ = machine.ready("c", endpoint: "ring-c", now: 2)
        let actions = machine.lost("a")
        #expect(actions.contains(.rewound(to: 0)), "\(actions)")
        #expect(machine.participants["c"]?.holds == 0)
        // Nobody counts as holding a state of the undone history.
        #expect(machine.participants.values.allSatisfy { ($0.holds ?? 0) <= 0 })
    }

    /// After a ring re-forms, asking a survivor for its state says the new epoch, so that a
    /// survivor still in the old epoch's all-reduce gives it up at once (simulator seed 4).
    @Test func askingForStateSaysTheEpoch() {
        var (machine, _) = Self.machine(["a", "b"])
        _ = machine.stateReceived(from: "a", step: 0, hasModel: false)
        _ = machine.checkpointWritten(step: 0)
        _ = machine.done("a", step: 0, epoch: 1, digest: "x")
        _ = machine.done("b", step: 0, epoch: 1, digest: "x")
        machine.invite("c")
        _ = machine.ready("c", endpoint: "ring-c", now: 2)  // joins at the next boundary
        let actions = machine.lost("b")  // re-forms now, epoch 2: c needs the state
        #expect(actions.contains(.askState(member: "a", step: 1, model: false, epoch: 2)), "\(actions)")
    }

    /// The last checkpoint's holders all lost before it was saved: back to the checkpoint, not a failed run.
    @Test func losingTheLastStateBeforeItIsSavedRedoesIt() {
        var (machine, _) = Self.machine(["a"], steps: 2, checkpointEvery: 5)
        _ = machine.stateReceived(from: "a", step: 0, hasModel: false)
        _ = machine.checkpointWritten(step: 0)
        _ = machine.done("a", step: 0, epoch: 1, digest: "x")
        let last = machine.done("a", step: 1, epoch: 1, digest: "y")
        #expect(last.contains(.askState(member: "a", step: 2, model: true, epoch: 1)))
        machine.invite("b")
        _ = machine.ready("b", endpoint: "ring-b", now: 3)
        let actions = machine.lost("a")
        #expect(actions.contains(.rewound(to: 0)), "\(actions)")
        #expect(!actions.contains { if case .fail = $0 { true } else { false } })
        #expect(machine.ring.committed == 0 && !machine.ended)
    }
}
