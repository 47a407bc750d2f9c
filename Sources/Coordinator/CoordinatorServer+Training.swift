import Core
import Foundation
import Segmentation
import Shared
import ZeroMQ

/// Training runs (docs/PROTOCOL.md, "Training"): a run of a member takes that member's
/// workers away from tiles, forms them into a ring (`TrainingRing` decides; this part only
/// moves messages), keeps its checkpoints in the state directory and reports to its client.
/// Runs go one at a time, first submitted first, beside the slide jobs.
extension CoordinatorServer {
    var activeTraining: TrainingJob? { trainingJobs.first { $0.state == .running } }

    func trainingJob(_ id: UInt64) -> TrainingJob? { trainingJobs.first { $0.id == id } }

    /// A worker's id in rings: its routing id in hex (routing ids are any bytes).
    static func ringID(_ identity: [UInt8]) -> String { identity.map { String(format: "%02x", $0) }.joined() }

    // MARK: Client link

    func submitTraining(_ identity: [UInt8], _ submit: Wire.TrainSubmit) {
        guard let member = memberNames.firstIndex(of: submit.member) else {
            return replyError(identity, "no member \"\(submit.member)\" in this cluster (members: \(memberNames.joined(separator: ", ")))")
        }
        guard let plan = TrainingPlan(json: submit.settings) else { return replyError(identity, "the run's settings are malformed") }
        guard plan.architecture == config.members[member].architecture else {
            return replyError(identity, "member \(submit.member) is a \(config.members[member].architecture); the run trains a \(plan.architecture)")
        }
        let id = nextJobID
        nextJobID += 1
        let directory = config.stateDirectory + "/train-\(id)"
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            return replyError(identity, "cannot create \(directory): \(error.localizedDescription)")
        }
        let record = TrainingJob.Record(
            id: id, name: String(submit.name.prefix(200)), member: submit.member, data: submit.data, weights: submit.weights,
            settings: submit.settings)
        let job = TrainingJob(id: id, directory: directory, member: member, plan: plan, record: record, client: identity)
        trainingJobs.append(job)
        persist(job)
        log.info("training run \(id) (\(record.name)) submitted: member \(submit.member), \(plan.steps) steps of \(plan.batch), data \(submit.data)")
        send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: id, upload: false)))
    }

    /// A client follows a training run again.
    func attachTraining(_ identity: [UInt8], _ job: TrainingJob) {
        job.client = identity
        send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: job.id, upload: false)))
        send(clientSocket, identity, WireCodec.frames(.trainProgress, job.progress))
        switch job.state {
        case .finished: if let finished = finished(job) { send(clientSocket, identity, WireCodec.frames(.trainFinished, finished)) }
        case .failed: send(clientSocket, identity, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: job.record.note ?? "failed")))
        default: break
        }
    }

    func serveModel(_ identity: [UInt8], _ fetch: Wire.Fetch, _ job: TrainingJob) {
        guard job.state == .finished, let total = fileSize(job.modelPath) else {
            return replyError(identity, "training run \(job.id) has no model to fetch yet")
        }
        guard fetch.offset <= total else { return replyError(identity, "fetch outside the model") }
        let size = min(fetch.size, total - fetch.offset)
        guard let handle = FileHandle(forReadingAtPath: job.modelPath) else { return replyError(identity, "the model of run \(job.id) is gone") }
        defer { try? handle.close() }
        let data = (try? handle.seek(toOffset: fetch.offset)).flatMap { _ in try? handle.read(upToCount: Int(size)) } ?? Data()
        send(clientSocket, identity, WireCodec.frames(.chunk, Wire.Chunk(job: job.id, content: .model, offset: fetch.offset), payload: [UInt8](data)))
    }

    private func fileSize(_ path: String) -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value
    }

    private func finished(_ job: TrainingJob) -> Wire.TrainFinished? {
        guard let bytes = fileSize(job.modelPath), bytes > 0 else { return nil }
        return Wire.TrainFinished(job: job.id, steps: job.plan.steps, dice: job.record.validation.last?.dice, modelBytes: bytes)
    }

    // MARK: Worker link

    func trainReady(_ ready: Wire.TrainReady, from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == ready.run, job.machine.invited.contains(id) else { return }
        let name = registry.workers[identity]?.name ?? id
        if let digest = job.record.dataDigest, digest != ready.dataDigest.lowercased() {
            return perform(
                job,
                job.machine.failed(
                    id, fatal: false,
                    reason:
                        "\(name) reads a train.csv (digest \(ready.dataDigest)) other than the run's (\(digest)): every worker must see the same data folder",
                    now: now()))
        }
        if job.record.dataDigest == nil {
            job.record.dataDigest = ready.dataDigest.lowercased()
            persist(job)
        }
        log.info("training run \(job.id): worker \(name) is ready (\(ready.trainingTiles) training tiles)", ["run": "\(job.id)"])
        perform(job, job.machine.ready(id, endpoint: ready.endpoint, now: now()))
    }

    /// The coordinator's clock for training decisions: seconds since the reference date.
    func now() -> Double { Date().timeIntervalSinceReferenceDate }

    func trainDone(_ done: Wire.TrainDone, from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == done.run else { return }
        if done.step == job.machine.ring.committed && done.epoch == job.machine.ring.epoch {
            job.lastLoss = done.loss
            meter.trainingStep(seconds: done.seconds, allReduceSeconds: done.allReduceSeconds)
        }
        perform(job, job.machine.done(id, step: done.step, epoch: done.epoch, digest: done.digest))
    }

    func trainState(_ header: Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8], model: [UInt8], from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == header.run else { return }
        let state = ReceivedState(step: header.step, dice: header.dice, weights: weights, optimizer: optimizer, model: model)
        perform(job, job.machine.stateReceived(from: id, step: header.step, hasModel: !model.isEmpty), received: state)
    }

    func trainFailed(_ failure: Wire.TrainFailed, from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == failure.run else { return }
        let name = registry.workers[identity]?.name ?? id
        perform(
            job,
            job.machine.failed(
                id, fatal: failure.fatal, reason: failure.fatal ? "worker \(name): \(failure.reason)" : "\(name): \(failure.reason)",
                now: now()))
    }

    /// A worker is gone: a ring it was in re-forms without it.
    func trainingLost(_ identity: [UInt8]) {
        let id = Self.ringID(identity)
        for job in trainingJobs where job.state == .running {
            let name = job.peers[id]?.name ?? id
            if job.machine.participants[id] != nil {
                log.warning(
                    "training run \(job.id): lost worker \(name); the ring re-forms at step \(job.machine.ring.committed) and redoes the step from there",
                    ["run": "\(job.id)"])
            }
            perform(job, job.machine.lost(id))
            job.peers[id] = nil
        }
    }

    // MARK: Driving a run

    func trainingTick() {
        if activeTraining == nil, let next = trainingJobs.first(where: { $0.state == .queued }) {
            next.state = .running
            next.record.state = .running
            persist(next)
            log.info("training run \(next.id) started at step \(next.machine.ring.committed) of \(next.plan.steps)")
        }
        for outcome in checkpoints.finished() {
            guard let job = trainingJob(outcome.run), job.state == .running else { continue }
            if let error = outcome.error {
                perform(job, job.machine.checkpointFailed(error))
                continue
            }
            do { try job.recordCheckpoint(step: outcome.step, dice: outcome.dice) } catch {
                perform(job, job.machine.checkpointFailed("cannot record its checkpoint in \(job.directory): \(error)"))
                continue
            }
            log.info("training run \(job.id): checkpoint at step \(outcome.step)" + (outcome.dice.map { String(format: ", held-out Dice %.4f", $0) } ?? ""))
            checkpoints.prune(directory: job.directory, keeping: outcome.step)
            perform(job, job.machine.checkpointWritten(step: outcome.step))
        }
        guard let job = activeTraining else { return }
        if !job.machine.participants.isEmpty || !job.machine.invited.isEmpty { job.waitingSince = nil }
        perform(job, job.machine.tick(now: now()))
        // Every worker of the member that is not in the run yet is asked to join it.
        for worker in registry.workers.values.sorted(by: { $0.identity.lexicographicallyPrecedes($1.identity) })
        where worker.member == job.member && worker.training == nil && job.refusals[worker.name] == nil && job.state == .running {
            let join = Wire.TrainJoin(run: job.id, data: job.record.data, weights: job.record.weights, settings: job.record.settings)
            guard sent(workerSocket, worker.identity, WireCodec.frames(.trainJoin, join)) else { continue }
            let id = Self.ringID(worker.identity)
            job.peers[id] = TrainingJob.Peer(identity: worker.identity, name: worker.name)
            job.machine.invite(id)
            scheduler.setTraining(worker.identity, job.id)
        }
        if job.state == .running && job.machine.ring.ring.isEmpty && job.machine.invited.isEmpty && job.machine.participants.isEmpty {
            let since = job.waitingSince ?? Date()
            job.waitingSince = since
            if job.record.rings.isEmpty && Date().timeIntervalSince(since) > config.memberDeadline {
                // A run that never had a worker fails as a slide job does; one that lost its
                // workers waits for them, its checkpoints kept.
                perform(job, job.machine.fail("no worker of member \(memberNames[job.member]) joined within \(Int(config.memberDeadline)) s (member_deadline)"))
            } else if job.refusals.isEmpty {
                job.record.note = "waiting for a worker of member \(memberNames[job.member])"
            } else if registry.count(of: job.member) > 0 {
                perform(
                    job,
                    job.machine.fail(
                        "no worker of member \(memberNames[job.member]) could join: "
                            + job.refusals.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; ")))
            }
        }
    }

    /// A state a worker sent, while the actions its arrival called for are carried out.
    struct ReceivedState {
        let step: Int
        let dice: Double?
        let weights: [UInt8]
        let optimizer: [UInt8]
        let model: [UInt8]
    }

    /// Carries out the run's decisions: only bytes and files move here.
    func perform(_ job: TrainingJob, _ actions: [TrainingRunMachine.Action], received: ReceivedState? = nil) {
        for action in actions {
            switch action {
            case .ringFormed(let step, let epoch, let members):
                job.record.rings.append(TrainingJob.RingChange(step: step, epoch: epoch, workers: members.map { job.peers[$0]?.name ?? $0 }))
                if job.record.rings.count > 1 { meter.ringChanged() }
                persist(job)
                log.info("training run \(job.id): ring of \(members.count) at step \(step) (epoch \(epoch))", ["run": "\(job.id)"])
            case .step(let member, let step, let epoch, let rank, let endpoints, let share):
                let message = Wire.TrainStep(run: job.id, step: step, epoch: epoch, rank: rank, ring: endpoints, first: share.lowerBound, end: share.upperBound)
                sendToPeer(job, member, WireCodec.frames(.trainStep, message))
                job.stepStarted = Date()
                job.record.note = nil
            case .askState(let member, let step, let model, let epoch):
                sendToPeer(job, member, WireCodec.frames(.trainSave, Wire.TrainSave(run: job.id, step: step, model: model, epoch: epoch)))
            case .writeCheckpoint(let step, _):
                guard let received else { continue }
                checkpoints.write(
                    run: job.id, directory: job.directory, step: step, dice: received.dice, weights: received.weights,
                    optimizer: received.optimizer, model: received.model)
                job.checkpointState = (step, received.weights, received.optimizer)
            case .forwardState(let to, let step):
                guard let received else { continue }
                for member in to {
                    sendToPeer(
                        job, member,
                        WireCodec.frames(
                            Wire.TrainStateHeader(run: job.id, step: step, dice: nil),
                            weights: received.weights, optimizer: received.optimizer))
                }
            case .sendCheckpoint(let to, let step):
                guard let state = checkpointState(job, step: step) else { return }
                for member in to {
                    sendToPeer(
                        job, member,
                        WireCodec.frames(
                            Wire.TrainStateHeader(run: job.id, step: step, dice: nil),
                            weights: state.weights, optimizer: state.optimizer))
                }
            case .committed:
                job.losses.append(job.lastLoss ?? 0)
                if let started = job.stepStarted {
                    let seconds = Date().timeIntervalSince(started)
                    job.recentSteps = Array((job.recentSteps + [seconds]).suffix(10))
                    job.record.seconds = (job.record.seconds ?? 0) + seconds
                }
            case .rewound(let step):
                job.losses = Array(job.losses.prefix(step))
            case .dismiss(let member, let reason):
                guard let peer = job.peers.removeValue(forKey: member) else { continue }
                log.warning("training run \(job.id): worker \(peer.name) leaves: \(reason)", ["run": "\(job.id)"])
                job.refusals[peer.name] = reason
                send(workerSocket, peer.identity, WireCodec.frames(.trainStop, Wire.TrainStop(run: job.id, reason: reason)))
                scheduler.setTraining(peer.identity, nil)
            case .warn(let text):
                log.warning("training run \(job.id): \(text)", ["run": "\(job.id)"])
            case .waiting:
                job.record.note = "waiting for a worker of member \(memberNames[job.member])"
            case .fail(let reason):
                failTraining(job, reason)
            case .finish:
                finishTraining(job)
            }
        }
    }

    private func sendToPeer(_ job: TrainingJob, _ member: String, _ frames: [[UInt8]]) {
        guard let peer = job.peers[member] else { return }
        send(workerSocket, peer.identity, frames)
    }

    /// The checkpoint's state files after `step` steps: kept since they were written, or
    /// read once (a restarted coordinator). A checkpoint that cannot be read fails the run.
    private func checkpointState(_ job: TrainingJob, step: Int) -> (weights: [UInt8], optimizer: [UInt8])? {
        if let state = job.checkpointState, state.step == step { return (state.weights, state.optimizer) }
        do {
            let weights = [UInt8](try Data(contentsOf: URL(fileURLWithPath: job.weightsPath)))
            let optimizer = [UInt8](try Data(contentsOf: URL(fileURLWithPath: job.optimizerPath)))
            job.checkpointState = (step, weights, optimizer)
            return (weights, optimizer)
        } catch {
            perform(job, job.machine.fail("cannot read its checkpoint at step \(step) in \(job.directory): \(error.localizedDescription)"))
            return nil
        }
    }

    /// Every worker of the run goes back to tiles.
    private func release(_ job: TrainingJob, _ reason: String) {
        for peer in job.peers.values {
            send(workerSocket, peer.identity, WireCodec.frames(.trainStop, Wire.TrainStop(run: job.id, reason: reason)))
            scheduler.setTraining(peer.identity, nil)
        }
        job.peers = [:]
    }

    private func finishTraining(_ job: TrainingJob) {
        job.end(.finished)
        persist(job)
        release(job, "the run is finished")
        let dice = job.record.validation.last.map { String(format: ", held-out Dice %.4f", $0.dice) } ?? ""
        log.info("training run \(job.id) finished: \(job.plan.steps) steps\(dice); model in \(job.modelPath)", ["run": "\(job.id)"])
        if let finished = finished(job) { send(clientSocket, job.client, WireCodec.frames(.trainFinished, finished)) }
    }

    func failTraining(_ job: TrainingJob, _ reason: String) {
        guard job.state == .running || job.state == .queued else { return }
        if !job.machine.ended { _ = job.machine.fail(reason) }
        log.error("training run \(job.id) failed: \(reason)", ["run": "\(job.id)"])
        job.end(.failed, note: reason)
        persist(job)
        release(job, "the run failed")
        send(clientSocket, job.client, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: reason)))
    }
}
