import Coordinator
import Shared

/// The simulated coordinator: what `CoordinatorServer+Training` does with each message and
/// each of the machine's actions, with the disk as a dictionary.
extension TrainingSimulation {
    func startCoordinator() {
        incarnation += 1
        registered = [:]
        refused = []
        let epoch = recordRings.last?.epoch ?? 0
        machine = TrainingRunMachine(
            batch: options.batch, steps: options.steps, checkpointEvery: options.checkpointEvery, validateEvery: 0,
            minimumShare: options.minimumShare, committed: recordStep, epoch: epoch,
            hasCheckpoint: folders[folder(recordStep)] != nil, firstRingPatience: 5)
        world.note("coordinator \(incarnation) starts at step \(recordStep), epoch \(epoch)")
        schedule(.tick(incarnation: incarnation), at: world.now + 0.5)
    }

    func coordinatorReceives(_ message: Message) {
        guard machine != nil else { return }
        switch message {
        case .register(let worker, let identity):
            registered[identity] = worker
            lastHeard[identity] = world.now
            invite(identity, worker: worker)
        case .ready(let identity, let endpoint):
            guard registered[identity] != nil else { return }
            perform(machine!.ready(identity, endpoint: endpoint, now: world.now))
        case .done(let identity, let step, let epoch, let digest):
            guard registered[identity] != nil else { return }
            let members = machine!.stepMembers
            let actions = machine!.done(identity, step: step, epoch: epoch, digest: String(digest, radix: 16))
            if actions.contains(.committed(step: step + 1)) {
                // Every member that computed the committed step holds the replay's state at step + 1.
                if digest != replay(step + 1) { fail("step \(step + 1) committed with a state other than the replay of the recorded rings") }
                for id in members {
                    if let w = registered[id], let s = workers[w].session, s.applied == step + 1, s.state != digest {
                        fail("a member of committed step \(step + 1) holds another state")
                    }
                }
            }
            perform(actions)
        case .state(let identity, let step, let state, let model):
            guard registered[identity] != nil else { return }
            perform(machine!.stateReceived(from: identity, step: step, hasModel: model), received: (step, state))
        case .failed(let identity, let reason):
            guard registered[identity] != nil else { return }
            perform(machine!.failed(identity, fatal: false, reason: reason, now: world.now))
        default:
            break
        }
    }

    func invite(_ identity: String, worker: Int) {
        guard let machine, !machine.ended, !refused.contains(worker), machine.participants[identity] == nil,
            !machine.invited.contains(identity)
        else { return }
        self.machine!.invite(identity)
        send(.toWorker(worker: worker, identity: identity, .join), link: "c>" + identity)
    }

    func perform(_ actions: [TrainingRunMachine.Action], received: (step: Int, state: UInt64)? = nil) {
        for action in actions {
            guard machine != nil else { return }
            switch action {
            case .ringFormed(let step, let epoch, let members):
                recordRings.append((step, epoch, members.count))
                world.note("ring of \(members.count) from step \(step) (epoch \(epoch))")
            case .step(let member, let step, let epoch, let rank, let endpoints, let share):
                world.note("the step from step \(step) (epoch \(epoch)) to \(member)")
                toPeer(member, .step(.init(step: step, epoch: epoch, rank: rank, ring: endpoints, share: share)))
            case .askState(let member, let step, let model, let epoch):
                world.note("ask \(member) for the state after step \(step)\(model ? " with its model" : "")")
                toPeer(member, .save(step: step, model: model, epoch: epoch))
            case .writeCheckpoint(let step, _):
                guard let received else { continue }
                if received.state != replay(step) { fail("the checkpoint at step \(step) would not be the replay of the recorded rings") }
                schedule(.checkpointFiles(step: step, state: received.state, incarnation: incarnation), at: world.now + world.uniform(0.01...1.5))
            case .forwardState(let to, let step):
                guard let received else { continue }
                world.note("forward the state after step \(step) to \(to)")
                for member in to { toPeer(member, .load(step: step, state: received.state)) }
            case .sendCheckpoint(let to, let step):
                guard step == recordStep, let state = folders[folder(recordStep)] else {
                    fail("asked to send the checkpoint at step \(step); the record names step \(recordStep)")
                    return
                }
                world.note("send the checkpoint at step \(step) to \(to)")
                for member in to { toPeer(member, .load(step: step, state: state)) }
            case .dismiss(let member, let reason):
                world.note("dismissed \(member): \(reason)")
                if let worker = registered[member] {
                    refused.insert(worker)
                    toPeer(member, .stop)
                }
            case .fail(let reason):
                world.note("run failed: \(reason)")
                if reason.contains("differ") { fail("replicas differ: \(reason)") }
                ended = "failed: " + reason
            case .finish:
                world.note("run finished")
                ended = "finished"
            case .committed(let step): world.note("committed \(step)")
            case .warn(let text): world.note(text)
            case .rewound(let step): world.note("rewound to \(step)")
            case .waiting: world.note("waiting for workers")
            }
        }
    }

    func toPeer(_ member: String, _ command: Command) {
        guard let worker = registered[member] else { return }
        send(.toWorker(worker: worker, identity: member, command), link: "c>" + member)
    }

    func checkpointFilesWritten(step: Int, state: UInt64, incarnation written: Int) {
        // The writer thread dies with its process.
        guard written == incarnation, machine != nil else { return }
        folders[folder(step)] = state
        schedule(.checkpointRecord(step: step, incarnation: written), at: world.now + world.uniform(0.001...0.05))
        // Kills are made likelier at this moment, between a checkpoint's files and its record.
        if world.now < options.faultsUntil && world.chance(0.1) {
            world.note("kill -9 the coordinator between a checkpoint's files and its record")
            machine = nil
            schedule(.restartCoordinator, at: world.now + world.uniform(0.5...5))
        }
    }

    func checkpointRecorded(step: Int, incarnation written: Int) {
        guard written == incarnation, machine != nil else { return }
        recordStep = step
        world.note("checkpoint at step \(step) recorded")
        perform(machine!.checkpointWritten(step: step))
    }

    func coordinatorTick(_ tickIncarnation: Int) {
        guard tickIncarnation == incarnation, machine != nil else { return }
        // Heartbeats: a live worker's current connection is heard; any other identity falls silent.
        for (identity, index) in registered.sorted(by: { $0.key < $1.key }) {
            if workers[index].alive && workers[index].identity == identity {
                lastHeard[identity] = world.now
            } else if world.now - (lastHeard[identity] ?? 0) > silence {
                coordinatorLoses(identity)
            }
        }
        guard machine != nil else { return }
        perform(machine!.tick(now: world.now))
        let machine = machine!
        if !machine.ended, machine.ring.ring.isEmpty, machine.participants.isEmpty, machine.invited.isEmpty,
            !registered.isEmpty, registered.values.allSatisfy({ refused.contains($0) })
        {
            perform(self.machine!.fail("no worker could join"))
        }
        schedule(.tick(incarnation: incarnation), at: world.now + 0.5)
    }

    /// The coordinator counts `identity` gone (its silence ran out, or a busy machine fooled it).
    func coordinatorLoses(_ identity: String) {
        guard machine != nil, registered.removeValue(forKey: identity) != nil else { return }
        world.note("coordinator loses \(identity)")
        perform(machine!.lost(identity))
    }
}
