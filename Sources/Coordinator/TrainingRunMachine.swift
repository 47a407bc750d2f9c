import Foundation

/// Every decision the coordinator takes for one running training run, as a value type that
/// takes events and returns actions (docs/ARCHITECTURE.md): which workers form the ring
/// (`TrainingRing`), who holds which committed state, where a worker that lacks the state
/// gets it (a member that holds it, or the checkpoint on disk), when a checkpoint is asked
/// for and written, when the run goes back to its checkpoint, and when it fails or ends.
/// The driver (`CoordinatorServer+Training`) only moves bytes and files; the simulator
/// (`Simulation`) drives the same machine over a simulated network and clock.
///
/// Members are named by ring id (any string unique per worker connection).
package struct TrainingRunMachine {
    /// A worker taking part: where its ring socket is and the step whose committed state it
    /// holds (nil: none the run can use).
    package struct Participant: Equatable {
        package var endpoint: String
        package var holds: Int?
    }

    /// A step to send once nothing waits on a worker's state.
    package struct Start: Equatable {
        package let step: Int
        package let epoch: Int
        package let ring: [String]
        package let shares: [String: Range<Int>]
    }

    package enum Action: Equatable {
        /// A new epoch's ring (with the step it starts at): record it before any of its steps goes out.
        case ringFormed(step: Int, epoch: Int, members: [String])
        /// Send `member` its part of step `step`: rank `rank` of `endpoints`, slots `share`.
        case step(member: String, step: Int, epoch: Int, rank: Int, endpoints: [String], share: Range<Int>)
        /// Ask `member` for its committed state after `step` steps (with the model: a
        /// checkpoint), saying the ring's epoch so that it gives up any earlier step first.
        case askState(member: String, step: Int, model: Bool, epoch: Int)
        /// Write the state just received as the checkpoint after `step` steps; answer
        /// `checkpointWritten` or `checkpointFailed`.
        case writeCheckpoint(step: Int, model: Bool)
        /// Send the state just received (after `step` steps) to these members.
        case forwardState(to: [String], step: Int)
        /// Send the checkpoint (after `step` steps) to these members.
        case sendCheckpoint(to: [String], step: Int)
        /// Steps 0 ..< `step` are committed.
        case committed(step: Int)
        /// Everything after the checkpoint at `step` is undone: no member holds a later state.
        case rewound(to: Int)
        /// `member` leaves the run and goes back to tiles, for `reason`.
        case dismiss(member: String, reason: String)
        /// A line for the log.
        case warn(String)
        /// The run has no worker and waits for one.
        case waiting
        /// The run fails: every worker of it goes back to tiles.
        case fail(String)
        /// Every step is committed and checkpointed: the run is finished, its workers go back to tiles.
        case finish
    }

    package private(set) var ring: TrainingRing
    package let checkpointEvery: Int
    package let validateEvery: Int
    /// Seconds the first ring waits for every invited worker (still loading the data) after
    /// the first is ready.
    package let firstRingPatience: Double
    package private(set) var participants: [String: Participant] = [:]
    /// Workers asked to join that have not answered.
    package private(set) var invited: Set<String> = []
    /// Steps in the checkpoint on disk, and whether there is one.
    package private(set) var checkpointStep: Int
    package private(set) var hasCheckpoint: Bool
    package private(set) var held: Start?
    /// A checkpoint asked of a member.
    package private(set) var pendingSave: (step: Int, member: String, model: Bool)?
    /// A state asked of a member for members that lack it.
    package private(set) var pendingTransfer: (step: Int, member: String, to: [String])?
    /// A checkpoint being written.
    package private(set) var writing: Int?
    /// Every step is committed: the run ends once its last checkpoint is written.
    package private(set) var finishing = false
    package private(set) var ended = false
    /// The members computing the step in flight (those with a share).
    package private(set) var stepMembers: [String] = []
    private var firstReady: Double?
    private var recordedEpoch: Int

    /// A run of `steps` steps of `batch` slots, taken up after `committed` steps (the last
    /// checkpoint's, 0 for a new run) and epoch `epoch` (the last one recorded).
    package init(
        batch: Int, steps: Int, checkpointEvery: Int, validateEvery: Int, minimumShare: Int, committed: Int = 0, epoch: Int = 0,
        hasCheckpoint: Bool = false, firstRingPatience: Double = 120
    ) {
        ring = TrainingRing(batch: batch, steps: steps, committed: committed, epoch: epoch, minimumShare: minimumShare)
        self.checkpointEvery = max(1, checkpointEvery)
        self.validateEvery = validateEvery
        self.firstRingPatience = firstRingPatience
        checkpointStep = committed
        self.hasCheckpoint = hasCheckpoint
        recordedEpoch = epoch
    }

    /// Whether a checkpoint is being taken (for progress).
    package var saving: Bool { finishing || pendingSave != nil || writing != nil }

    // MARK: Events

    /// `member` was asked to join.
    package mutating func invite(_ member: String) { if !ended { invited.insert(member) } }

    /// An invited worker is ready, its ring socket at `endpoint`. A worker that starts a
    /// run before any step is committed holds the run's initial state.
    package mutating func ready(_ member: String, endpoint: String, now: Double) -> [Action] {
        guard !ended, invited.remove(member) != nil else { return [] }
        participants[member] = Participant(endpoint: endpoint, holds: ring.committed == 0 ? 0 : nil)
        var actions = formFirstRing(now: now)
        if !ring.ring.isEmpty { actions += perform(ring.join(member)) }
        return actions
    }

    /// The passing of time: a first ring waiting for slow workers forms after its patience.
    package mutating func tick(now: Double) -> [Action] { ended ? [] : formFirstRing(now: now) }

    /// `member` applied step `step` of epoch `epoch`; `digest` identifies its parameters.
    package mutating func done(_ member: String, step: Int, epoch: Int, digest: String) -> [Action] {
        guard !ended, participants[member] != nil else { return [] }
        let computed = stepMembers
        let actions = ring.stepDone(member, step: step, epoch: epoch, digest: digest)
        // Only the members that computed the step hold its state (joiners and members
        // without a share do not).
        for case .committed(let step) in actions { for id in computed { participants[id]?.holds = step } }
        return perform(actions)
    }

    /// `member` sent its committed state after `step` steps (`hasModel`: with a model).
    /// Only an answer to what was asked of that member is used.
    package mutating func stateReceived(from member: String, step: Int, hasModel: Bool) -> [Action] {
        guard !ended else { return [] }
        var actions: [Action] = []
        var used = false
        if let save = pendingSave, save.member == member, save.step == step {
            guard !save.model || hasModel else { return [.warn("dropped a checkpoint without its model")] }
            pendingSave = nil
            writing = step
            actions.append(.writeCheckpoint(step: step, model: save.model))
            used = true
        }
        if let transfer = pendingTransfer, transfer.member == member, transfer.step == step {
            let to = transfer.to.filter { participants[$0] != nil }
            for id in to { participants[id]?.holds = step }
            pendingTransfer = nil
            if !to.isEmpty { actions.append(.forwardState(to: to, step: step)) }
            used = true
        }
        if !used { actions.append(.warn("dropped a training state nobody asked for")) }
        return actions + release()
    }

    /// The checkpoint after `step` steps is on disk.
    package mutating func checkpointWritten(step: Int) -> [Action] {
        guard !ended, writing == step else { return [] }
        writing = nil
        checkpointStep = step
        hasCheckpoint = true
        return release()
    }

    package mutating func checkpointFailed(_ reason: String) -> [Action] {
        guard !ended else { return [] }
        writing = nil
        return end(failing: reason)
    }

    /// `member` could not take part: a fatal reason fails the run, any other makes it leave.
    package mutating func failed(_ member: String, fatal: Bool, reason: String, now: Double) -> [Action] {
        guard !ended else { return [] }
        if invited.remove(member) != nil { return [.dismiss(member: member, reason: reason)] + formFirstRing(now: now) }
        guard participants[member] != nil else { return [] }
        if fatal { return end(failing: reason) }
        participants[member] = nil
        return [.dismiss(member: member, reason: reason)] + perform(ring.lose(member))
    }

    /// `member` is gone (its process died, it went silent, or it connected again).
    package mutating func lost(_ member: String) -> [Action] {
        invited.remove(member)
        guard !ended, participants.removeValue(forKey: member) != nil else { return [] }
        return perform(ring.lose(member))
    }

    /// The run fails for a reason outside the ring (a deadline, a file).
    package mutating func fail(_ reason: String) -> [Action] { ended ? [] : end(failing: reason) }

    // MARK: Decisions

    /// The first ring of a run (or of one that lost every worker) waits for every worker
    /// asked to join, so that it starts with all of them, but not longer than
    /// `firstRingPatience` after the first is ready.
    private mutating func formFirstRing(now: Double) -> [Action] {
        guard ring.ring.isEmpty, !participants.isEmpty else { return [] }
        let first = firstReady ?? now
        firstReady = first
        guard invited.isEmpty || now - first > firstRingPatience else { return [] }
        firstReady = nil
        return perform(ring.join(participants.keys.sorted()))
    }

    private mutating func perform(_ decisions: [TrainingRing.Action]) -> [Action] {
        var actions: [Action] = []
        for decision in decisions {
            switch decision {
            case .start(let step, let epoch, let members, let shares):
                held = Start(step: step, epoch: epoch, ring: members, shares: shares)
                if epoch != recordedEpoch {
                    recordedEpoch = epoch
                    actions.append(.ringFormed(step: step, epoch: epoch, members: members))
                }
            case .sendState:
                break  // `release` gives every member that lacks the state what it needs
            case .committed(let step):
                actions.append(.committed(step: step))
                let due = step % checkpointEvery == 0 || step == ring.steps || (validateEvery > 0 && step % validateEvery == 0)
                if due, let source = holder(of: step) {
                    pendingSave = (step, source, true)
                    actions.append(.askState(member: source, step: step, model: true, epoch: ring.epoch))
                }
            case .waiting:
                held = nil
                actions.append(.waiting)
            case .stop(let reason):
                return actions + end(failing: reason)
            case .finished:
                finishing = true
            }
        }
        return actions + release()
    }

    /// Sends the held step once nothing waits on a worker's state or a checkpoint: first
    /// the state to every member that lacks it — from a member that holds it, or from the
    /// checkpoint — and when nobody holds it, goes back to the checkpoint.
    private mutating func release() -> [Action] {
        guard !ended else { return [] }
        var actions: [Action] = []
        if let save = pendingSave, participants[save.member] == nil {
            pendingSave = nil
            if let source = holder(of: save.step) {
                pendingSave = (save.step, source, save.model)
                actions.append(.askState(member: source, step: save.step, model: save.model, epoch: ring.epoch))
            } else if finishing {
                // Every worker holding the last step was lost before it was saved: the run
                // goes back to its checkpoint and redoes the last steps.
                finishing = false
                held = nil
                for id in participants.keys where (participants[id]?.holds ?? 0) > checkpointStep { participants[id]?.holds = nil }
                let rewind = ring.rewind(to: checkpointStep)
                return actions + [
                    .warn("every worker holding the last step was lost before it was saved; going back to the checkpoint at step \(checkpointStep)"),
                    .rewound(to: checkpointStep),
                ] + perform(rewind)
            } else {
                actions.append(.warn("the checkpoint at step \(save.step) was lost with its workers"))
            }
        }
        if let transfer = pendingTransfer, participants[transfer.member] == nil { pendingTransfer = nil }
        guard pendingSave == nil, pendingTransfer == nil, writing == nil else { return actions }
        if finishing {
            ended = true
            return actions + [.finish]
        }
        guard let start = held else { return actions }
        // The run's state at step 0 is kept as its first checkpoint, so that a ring that
        // loses every member later can always go back to one.
        if start.step == 0, checkpointStep == 0, !hasCheckpoint, let source = holder(of: 0) {
            pendingSave = (0, source, false)
            return actions + [.askState(member: source, step: 0, model: false, epoch: ring.epoch)]
        }
        let lacking = start.ring.filter { participants[$0]?.holds != start.step }
        if !lacking.isEmpty {
            // Any participant that holds the state may give it, in the ring or waiting there without a share.
            if let source = holder(of: start.step) {
                pendingTransfer = (start.step, source, lacking)
                return actions + [.askState(member: source, step: start.step, model: false, epoch: ring.epoch)]
            }
            guard start.step == checkpointStep, hasCheckpoint else {
                guard hasCheckpoint else {
                    return actions + end(failing: "no worker holds the state at step \(start.step) and there is no checkpoint to go back to")
                }
                held = nil
                // What members hold past the checkpoint belongs to a history now undone.
                for id in participants.keys where (participants[id]?.holds ?? 0) > checkpointStep { participants[id]?.holds = nil }
                let rewind = ring.rewind(to: checkpointStep)
                return actions + [
                    .warn("no worker holds the state at step \(start.step); going back to the checkpoint at step \(checkpointStep)"),
                    .rewound(to: checkpointStep),
                ] + perform(rewind)
            }
            for id in lacking { participants[id]?.holds = start.step }
            actions.append(.sendCheckpoint(to: lacking, step: start.step))
        }
        let endpoints = start.ring.map { participants[$0]!.endpoint }
        for (rank, id) in start.ring.enumerated() {
            actions.append(.step(member: id, step: start.step, epoch: start.epoch, rank: rank, endpoints: endpoints, share: start.shares[id]!))
        }
        stepMembers = start.ring
        held = nil
        return actions
    }

    /// The first participant, in ring order and then by id, that holds the committed state after `step` steps.
    private func holder(of step: Int) -> String? {
        (ring.ring + participants.keys.sorted()).first { participants[$0]?.holds == step }
    }

    private mutating func end(failing reason: String) -> [Action] {
        ended = true
        held = nil
        pendingSave = nil
        pendingTransfer = nil
        return [.fail(reason)]
    }
}
