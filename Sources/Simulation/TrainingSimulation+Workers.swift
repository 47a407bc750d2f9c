import Coordinator
import Shared
import Worker

/// The simulated workers: the I/O thread's part (`WorkerLink`, `TrainingHost.submit`) and
/// the training thread's (`TrainingHost.perform`, `ReplicaRules`), the ring all-reduce as a
/// rendezvous of its members, and the faults.
extension TrainingSimulation {
    /// A worker (re)connects under a fresh routing id and registers.
    func connect(_ worker: SimWorker) {
        worker.connections += 1
        worker.identity = "w\(worker.index).\(worker.connections)"
        submit(worker, .abandon)
        send(.register(worker: worker.index, identity: worker.identity), link: worker.identity + ">c")
    }

    func workerReceives(_ message: Message) {
        switch message {
        case .toWorker(let index, let identity, let command):
            let worker = workers[index]
            guard worker.alive, worker.identity == identity else { return }
            submit(worker, command)
        case .registerAgain(let index, let identity):
            let worker = workers[index]
            guard worker.alive, worker.identity == identity else { return }
            submit(worker, .abandon)
            send(.register(worker: index, identity: identity), link: identity + ">c")
        default:
            break
        }
    }

    /// The I/O thread hands a command over (`TrainingHost.submit`).
    func submit(_ worker: SimWorker, _ command: Command) {
        worker.wanted.take(wireCommand(command))
        worker.commands.append((command, worker.wanted.generation))
        checkAbandon(worker)
        if !worker.busy { schedule(.work(worker: worker.index), at: world.now) }
    }

    func wireCommand(_ command: Command) -> WorkerLink.TrainingCommand {
        switch command {
        case .join: .join(Wire.TrainJoin(run: 1, data: "d", weights: nil, settings: "{}"))
        case .step(let step):
            .step(
                Wire.TrainStep(
                    run: 1, step: step.step, epoch: step.epoch, rank: step.rank, ring: step.ring,
                    first: step.share.lowerBound, end: step.share.upperBound))
        case .save(let step, let model, let epoch): .save(Wire.TrainSave(run: 1, step: step, model: model, epoch: epoch))
        case .load(let step, _): .load(Wire.TrainStateHeader(run: 1, step: step, dice: nil), weights: [], optimizer: [])
        case .stop: .stop(Wire.TrainStop(run: 1, reason: ""))
        case .abandon: .abandon
        }
    }

    /// A step waiting in an all-reduce that is no longer wanted gives up and rolls back.
    func checkAbandon(_ worker: SimWorker) {
        guard let waiting = worker.waiting, let session = worker.session else { return }
        guard !worker.wanted.wants(run: session.run, generation: session.generation, epoch: waiting.step.epoch) else { return }
        worker.waiting = nil
        rollBack(worker)
        world.note("\(worker.identity) abandons the step from step \(waiting.step.step) (epoch \(waiting.step.epoch))")
        worker.busy = false
        schedule(.work(worker: worker.index), at: world.now)
    }

    func rollBack(_ worker: SimWorker) {
        guard var session = worker.session else { return }
        session.applied = session.committed
        session.state = session.committedState
        worker.session = session
    }

    /// Posts a message of the session of `generation`; the I/O thread sends only the current session's.
    func post(_ worker: SimWorker, generation: Int, _ message: Message) {
        guard worker.alive, generation == worker.wanted.generation else { return }
        send(message, link: worker.identity + ">c")
    }

    /// The training thread takes its next command.
    func work(_ worker: SimWorker) {
        guard worker.alive, worker.waiting == nil, !worker.commands.isEmpty else { worker.busy = worker.waiting != nil; return }
        worker.busy = true
        let (command, generation) = worker.commands.removeFirst()
        var cost = 0.001
        switch command {
        case .join:
            worker.session = nil
            if worker.wanted.wants(run: 1, generation: generation, epoch: nil) {
                sessions += 1
                let session = Session(run: 1, generation: generation, endpoint: "ring-\(sessions)", state: Self.initialState, committedState: Self.initialState)
                worker.session = session
                cost = world.uniform(0.05...1) * worker.slow
                post(worker, generation: generation, .ready(identity: worker.identity, endpoint: session.endpoint))
            }
        case .step(let step):
            guard var session = worker.session, session.generation == generation,
                worker.wanted.wants(run: 1, generation: generation, epoch: step.epoch)
            else { break }
            let preparation = ReplicaRules.start(step: step.step, applied: session.applied, committed: session.committed)
            switch preparation {
            case .rollBack?:
                if options.mutation != .noRollBack {
                    session.applied = session.committed; session.state = session.committedState
                } else {
                    session.applied = step.step
                }
            case .commit?: session.committed = session.applied; session.committedState = session.state
            case nil:
                worker.session = session
                post(
                    worker, generation: generation,
                    .failed(identity: worker.identity, reason: "asked for the step from step \(step.step), at step \(session.applied)"))
                break
            }
            guard preparation != nil else { break }
            session.epoch = step.epoch
            worker.session = session
            worker.waiting = (key(step), step, world.now)
            // Computing the share, then entering the all-reduce.
            schedule(.finishStep(worker: worker.index, key: "enter:" + key(step)), at: world.now + world.uniform(0.2...2) * worker.slow)
            return
        case .save(let step, let model, _):
            guard var session = worker.session, session.generation == generation else { break }
            guard let commitFirst = ReplicaRules.save(step: step, applied: session.applied, committed: session.committed) else {
                post(worker, generation: generation, .failed(identity: worker.identity, reason: "asked for the state after step \(step)"))
                break
            }
            if commitFirst { session.committed = session.applied; session.committedState = session.state }
            worker.session = session
            cost = model ? world.uniform(0.5...3) * worker.slow : 0.01
            post(worker, generation: generation, .state(identity: worker.identity, step: step, state: session.committedState, model: model))
        case .load(let step, let state):
            guard var session = worker.session, session.generation == generation else { break }
            session.applied = step; session.committed = step; session.state = state; session.committedState = state
            worker.session = session
        case .stop, .abandon:
            if case .abandon = command { worker.session = nil } else if worker.session?.generation == generation { worker.session = nil }
        }
        schedule(.work(worker: worker.index), at: world.now + cost)
    }

    func key(_ step: Command.Step) -> String { "\(step.epoch)/\(step.step)/\(step.ring.joined(separator: ","))" }

    /// Members in an all-reduce, by its key: each member's rank, state and share.
    /// A member enters once its share is computed; when every member of the ring has
    /// entered, each finishes at its own time — unless it gives up first.
    func enter(_ worker: SimWorker, key: String) {
        guard let waiting = worker.waiting, waiting.key == key, let session = worker.session else { return }
        entered[key, default: [:]][waiting.step.rank] = (worker.index, session.state, waiting.step.share)
        guard let members = entered[key], members.count == waiting.step.ring.count else { return }
        let sum = Self.gradientSum(members.keys.sorted().map { (members[$0]!.state, members[$0]!.share) }, step: waiting.step.step)
        for member in members.values {
            sums[key] = sum
            schedule(.finishStep(worker: member.worker, key: key), at: world.now + world.uniform(0.001...0.3))
        }
    }

    func finishStep(_ worker: SimWorker, key: String) {
        if key.hasPrefix("enter:") { return enter(worker, key: String(key.dropFirst(6))) }
        guard worker.alive, let waiting = worker.waiting, waiting.key == key, var session = worker.session, let sum = sums[key] else { return }
        session.state = SimulationWorld.hash(session.state, sum)
        session.applied += 1
        worker.session = session
        worker.waiting = nil
        post(
            worker, generation: session.generation, .done(identity: worker.identity, step: waiting.step.step, epoch: waiting.step.epoch, digest: session.state))
        worker.busy = false
        schedule(.work(worker: worker.index), at: world.now + 0.001)
    }

    // MARK: Faults

    func fault() {
        let live = workers.filter(\.alive)
        switch world.pick(10) {
        case 0, 1:
            // kill -9 of a worker: the coordinator notices its silence later.
            guard live.count > 1 else { return }
            let worker = live[world.pick(live.count)]
            worker.alive = false
            worker.waiting = nil
            world.note("kill -9 \(worker.identity)")
            schedule(.lose(identity: worker.identity, incarnation: incarnation), at: world.now + world.uniform(0.6...3))
            schedule(.startWorker(worker.index), at: world.now + world.uniform(1...20))
        case 2:
            // The coordinator killed, restarted from its state folder.
            guard machine != nil else { return }
            world.note("kill -9 the coordinator")
            machine = nil
            schedule(.restartCoordinator, at: world.now + world.uniform(0.5...5))
        case 3, 4, 5:
            // A busy machine: a healthy worker taken for dead, answered registerAgain.
            guard !live.isEmpty, machine != nil else { return }
            let worker = live[world.pick(live.count)]
            guard registered[worker.identity] != nil else { return }
            coordinatorLoses(worker.identity)
            let identity = worker.identity
            send(.registerAgain(worker: worker.index, identity: identity), link: "c>" + identity)
        case 6:
            // A worker that heard nothing for a while connects again under a new routing id.
            guard !live.isEmpty else { return }
            let worker = live[world.pick(live.count)]
            let old = worker.identity
            world.note("\(old) reconnects")
            connect(worker)
            schedule(.lose(identity: old, incarnation: incarnation), at: world.now + world.uniform(0.6...3))
        case 7:
            // A worker joins.
            guard workers.count < options.workers + 3 else { return }
            let worker = SimWorker(index: workers.count)
            workers.append(worker)
            world.note("a new worker starts")
            connect(worker)
        default:
            // A member becomes 100× slower for a while.
            guard !live.isEmpty else { return }
            let worker = live[world.pick(live.count)]
            worker.slow = worker.slow > 1 ? 1 : 100
        }
    }

    func handle(_ event: Event) {
        switch event {
        case .deliver(let message, let sent):
            switch message {
            case .toWorker, .registerAgain:
                // What a dead coordinator sent before it died may still arrive.
                workerReceives(message)
            default:
                // A DEALER keeps what it could not deliver and sends it once a coordinator is back.
                guard machine != nil else { return schedule(.deliver(message, incarnation: sent), at: world.now + 0.5) }
                coordinatorReceives(message)
            }
        case .work(let index): work(workers[index])
        case .finishStep(let index, let key): finishStep(workers[index], key: key)
        case .checkpointFiles(let step, let state, let written): checkpointFilesWritten(step: step, state: state, incarnation: written)
        case .checkpointRecord(let step, let written): checkpointRecorded(step: step, incarnation: written)
        case .tick(let tick): coordinatorTick(tick)
        case .fault: fault()
        case .restartCoordinator:
            startCoordinator()
            for worker in workers where worker.alive {
                // Each worker notices the silence: it reconnects, or (same routing id) is answered registerAgain.
                if world.chance(0.5) {
                    connect(worker)
                } else {
                    send(.registerAgain(worker: worker.index, identity: worker.identity), link: "c>" + worker.identity)
                }
            }
        case .lose(let identity, let lost):
            if lost == incarnation { coordinatorLoses(identity) }
        case .startWorker(let index):
            let worker = workers[index]
            guard !worker.alive else { return }
            worker.alive = true
            worker.session = nil
            worker.commands = []
            worker.busy = false
            worker.wanted = ReplicaRules.Wanted()
            world.note("worker \(index) starts again")
            connect(worker)
        }
    }
}
