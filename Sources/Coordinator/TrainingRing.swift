import Foundation

/// The coordinator's decisions for one data-parallel training run (issue 16), as a value-type
/// state machine tested without sockets: which workers form the ring and in what order,
/// which slots of each global batch each one computes, when a step is committed, and what
/// happens when a worker is lost or joins — Horovod Elastic's semantics, without its
/// restart.
///
/// - Step s's global batch is `batch` slots; the sample in slot k is a function of the run's
///   seed, s and k alone (`BalancedSampler`, `TileDataset`), so the batch is the same
///   whatever the ring. Member r of an N-member ring computes slots r·B/N ..< (r+1)·B/N.
/// - A step is committed when every member of the ring has reported it applied, each with
///   a digest of its parameters; digests that differ stop the run (replicas must be
///   bit-identical).
/// - A member lost during step s (or silent: the driver decides that) re-forms the ring
///   from the survivors under a new epoch: every survivor rolls back to its state after the
///   last committed step and redoes step s over the same global batch with the new shares.
///   Reports of an old epoch are ignored. The run then equals, bit for bit, a run whose ring
///   had the survivors from step s on.
/// - A worker that joins waits for the next step boundary; it then receives the committed
///   weights and optimiser state from a member and enters the ring with the next step.
package struct TrainingRing: Equatable {
    /// What the driver does.
    package enum Action: Equatable {
        /// Every member of `ring` (in ring order) runs step `step` of epoch `epoch` on its
        /// `shares` slots, starting from the state after step `step` − 1.
        case start(step: Int, epoch: Int, ring: [String], shares: [String: Range<Int>])
        /// `to` receives the committed state (step `step`) from `from` before the next start.
        case sendState(from: String, to: String, step: Int)
        /// Steps 0 ..< `steps` are committed: checkpoint, report progress.
        case committed(step: Int)
        /// The run has no worker: it waits for one to join.
        case waiting
        /// The run cannot go on.
        case stop(reason: String)
        /// Every step is done.
        case finished
    }

    package let batch: Int
    package let steps: Int
    /// The fewest slots a member computes: 2 when each replica normalises with its own
    /// share's batch statistics (one image has none worth the name), else 1.
    package let minimumShare: Int
    package private(set) var epoch = 0
    package private(set) var ring: [String] = []
    /// Steps committed: the state every member holds is the one after step `committed` − 1.
    package private(set) var committed: Int
    /// Members that have not yet reported the step in flight.
    package private(set) var pending: Set<String> = []
    private var digests: [String: String] = [:]
    /// Workers waiting to enter at the next step boundary.
    package private(set) var joining: [String] = []
    package private(set) var stopped = false

    /// A run of `steps` steps of `batch` slots, resumed after `committed` steps (0 for a
    /// new run; a restarted coordinator's last checkpoint otherwise).
    /// Epochs go on from `epoch`, the last one a previous coordinator started.
    package init(batch: Int, steps: Int, committed: Int = 0, epoch: Int = 0, minimumShare: Int = 1) {
        precondition(batch >= 1 && steps >= 1 && (0...steps).contains(committed) && minimumShare >= 1)
        self.batch = batch
        self.steps = steps
        self.minimumShare = minimumShare
        self.committed = committed
        self.epoch = epoch
    }

    /// Goes back to the state after `step` steps (≤ `committed`: the last checkpoint, when
    /// no member holds the committed state any more) and starts it again with the same
    /// members under a new epoch.
    package mutating func rewind(to step: Int) -> [Action] {
        precondition((0...committed).contains(step))
        // A finished ring may go back (its last state was lost before it was saved); a
        // stopped one may not.
        if committed == steps && step < steps { stopped = false }
        guard !stopped else { return [] }
        committed = step
        return formRing()
    }

    /// The slots each member of `ring` computes: contiguous, in ring order, sizes differing
    /// by at most one. A ring larger than ⌊batch / minimum⌋ leaves its last members out
    /// (they wait, holding no share, until a member is lost).
    package static func shares(ring: [String], batch: Int, minimum: Int = 1) -> [String: Range<Int>] {
        let members = Array(ring.prefix(max(1, batch / minimum)))
        var shares: [String: Range<Int>] = [:]
        for (rank, id) in members.enumerated() {
            shares[id] = (rank * batch / members.count)..<((rank + 1) * batch / members.count)
        }
        return shares
    }

    /// Workers of the member are ready to train. The first ones form the ring together;
    /// later ones enter at the next step boundary.
    package mutating func join(_ id: String) -> [Action] { join([id]) }

    package mutating func join(_ ids: [String]) -> [Action] {
        let new = ids.filter { !ring.contains($0) && !joining.contains($0) }
        guard !stopped, !new.isEmpty else { return [] }
        joining += new
        return ring.isEmpty ? formRing() : []
    }

    /// A worker is gone (its process died, or it went silent).
    package mutating func lose(_ id: String) -> [Action] {
        joining.removeAll { $0 == id }
        guard ring.contains(id) else { return [] }
        // Even a stopped ring forgets it: a finished run may still go back to its checkpoint.
        ring.removeAll { $0 == id }
        guard !stopped else { return [] }
        // The survivors roll back to the committed state and redo the step in flight
        // (committed) with new shares, joiners included: a new epoch.
        return formRing()
    }

    /// Member `id` applied step `step` of epoch `epoch`; `digest` identifies its parameters.
    package mutating func stepDone(_ id: String, step: Int, epoch reported: Int, digest: String) -> [Action] {
        guard !stopped, reported == epoch, step == committed, pending.contains(id) else { return [] }
        pending.remove(id)
        digests[id] = digest
        guard pending.isEmpty else { return [] }
        if Set(digests.values).count > 1 {
            stopped = true
            let groups = Dictionary(grouping: digests.keys.sorted(), by: { digests[$0]! }).values.map { $0.joined(separator: ", ") }
            return [.stop(reason: "replicas differ at step \(step + 1): \(groups.sorted().joined(separator: " / ")) hold different parameters")]
        }
        committed += 1
        let actions: [Action] = [.committed(step: committed)]
        if committed == steps {
            stopped = true
            return actions + [.finished]
        }
        return actions + (joining.isEmpty ? [start()] : formRing())
    }

    /// The ring of the current members and joiners, sorted by id (so every coordinator forms
    /// the same one), under a new epoch, starting the uncommitted step. Joiners first
    /// receive the committed state from the first member that has it; when nobody has it
    /// (the first ring of a run) every worker starts from the run's initial weights or
    /// checkpoint.
    private mutating func formRing() -> [Action] {
        let holders = ring
        var actions: [Action] = []
        if let source = holders.first { actions = joining.map { .sendState(from: source, to: $0, step: committed) } }
        ring = (ring + joining).sorted()
        joining = []
        epoch += 1
        guard !ring.isEmpty else {
            pending = []
            return [.waiting]
        }
        return actions + [start()]
    }

    private mutating func start() -> Action {
        let shares = Self.shares(ring: ring, batch: batch, minimum: minimumShare)
        pending = Set(shares.keys)
        digests = [:]
        return .start(step: committed, epoch: epoch, ring: ring.filter { shares[$0] != nil }, shares: shares)
    }
}
