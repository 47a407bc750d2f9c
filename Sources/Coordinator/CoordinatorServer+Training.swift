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
        let record = TrainingJob.Record(id: id, name: String(submit.name.prefix(200)), member: submit.member, data: submit.data,
                                        weights: submit.weights, settings: submit.settings, state: TrainingJob.State.queued.rawValue,
                                        note: nil, step: 0, losses: [], validation: [], dataDigest: nil, rings: [], ended: nil, seconds: 0)
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
        guard let job = activeTraining, job.id == ready.run, job.invited.removeValue(forKey: id) != nil else { return }
        let name = registry.workers[identity]?.name ?? id
        if let digest = job.record.dataDigest, digest != ready.dataDigest.lowercased() {
            return refuse(job, identity, "\(name) reads a train.csv (digest \(ready.dataDigest)) other than the run's (\(digest)): every worker must see the same data folder")
        }
        if job.record.dataDigest == nil {
            job.record.dataDigest = ready.dataDigest.lowercased()
            persist(job)
        }
        job.participants[id] = TrainingJob.Participant(identity: identity, name: name, endpoint: ready.endpoint,
                                                      holds: job.ring.committed == 0 ? 0 : nil)
        log.info("training run \(job.id): worker \(name) is ready (\(ready.trainingTiles) training tiles)")
        formFirstRing(job)
        if !job.ring.ring.isEmpty { perform(job, job.ring.join(id)) }
    }

    /// The first ring of a run (or of one that lost every worker) waits for every worker
    /// asked to join, so that it starts with all of them, but not longer than
    /// `firstRingPatience` after the first is ready.
    func formFirstRing(_ job: TrainingJob) {
        guard job.ring.ring.isEmpty, !job.participants.isEmpty else { return }
        let firstReady = job.firstReady ?? Date()
        job.firstReady = firstReady
        guard job.invited.isEmpty || Date().timeIntervalSince(firstReady) > Self.firstRingPatience else { return }
        job.firstReady = nil
        perform(job, job.ring.join(job.participants.keys.sorted()))
    }

    /// Seconds the first ring waits for workers still loading the data.
    static let firstRingPatience = 120.0

    func trainDone(_ done: Wire.TrainDone, from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == done.run, job.participants[id] != nil else { return }
        if done.step == job.ring.committed && done.epoch == job.ring.epoch { job.lastLoss = done.loss }
        let reported = job.ring.ring
        let actions = job.ring.stepDone(id, step: done.step, epoch: done.epoch, digest: done.digest)
        // The members that reported the step hold its state (joiners entering now do not).
        for case .committed(let step) in actions { for member in reported { job.participants[member]?.holds = step } }
        perform(job, actions)
    }

    func trainState(_ header: Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8], model: [UInt8], from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == header.run else { return }
        var used = false
        if let save = job.pendingSave, save.from == id, save.step == header.step {
            guard !save.model || !model.isEmpty else { return dropped("a checkpoint without its model") }
            do {
                try job.writeCheckpoint(step: header.step, weights: weights, optimizer: optimizer, model: model, dice: header.dice, losses: job.losses)
            } catch {
                return failTraining(job, "cannot write its checkpoint in \(job.directory): \(error)")
            }
            log.info("training run \(job.id): checkpoint at step \(header.step)" + (header.dice.map { String(format: ", held-out Dice %.4f", $0) } ?? ""))
            job.pendingSave = nil
            used = true
        }
        if let transfer = job.pendingTransfer, transfer.from == id, transfer.step == header.step {
            for to in transfer.to {
                guard let participant = job.participants[to] else { continue }
                send(workerSocket, participant.identity, WireCodec.frames(Wire.TrainStateHeader(run: job.id, step: header.step, dice: nil),
                                                                           weights: weights, optimizer: optimizer))
                job.participants[to]?.holds = header.step
            }
            job.pendingTransfer = nil
            used = true
        }
        if !used { dropped("a training state nobody asked for") }
        releaseHeld(job)
    }

    func trainFailed(_ failure: Wire.TrainFailed, from identity: [UInt8]) {
        let id = Self.ringID(identity)
        guard let job = activeTraining, job.id == failure.run else { return }
        let name = registry.workers[identity]?.name ?? id
        if job.invited.removeValue(forKey: id) != nil {
            refuse(job, identity, "\(name): \(failure.reason)")
            return formFirstRing(job)
        }
        guard job.participants[id] != nil else { return }
        if failure.fatal { return failTraining(job, "worker \(name): \(failure.reason)") }
        job.participants[id] = nil
        refuse(job, identity, "\(name): \(failure.reason)")
        perform(job, job.ring.lose(id))
    }

    /// A worker is gone: a ring it was in re-forms without it.
    func trainingLost(_ identity: [UInt8]) {
        let id = Self.ringID(identity)
        for job in trainingJobs where job.state == .running {
            job.invited[id] = nil
            guard let participant = job.participants.removeValue(forKey: id) else { continue }
            log.warning("training run \(job.id): lost worker \(participant.name); the ring re-forms and redoes step \(job.ring.committed + 1)")
            perform(job, job.ring.lose(id))
        }
    }

    // MARK: Driving a run

    func trainingTick() {
        if activeTraining == nil, let next = trainingJobs.first(where: { $0.state == .queued }) {
            next.state = .running
            next.record.state = TrainingJob.State.running.rawValue
            persist(next)
            log.info("training run \(next.id) started at step \(next.ring.committed) of \(next.plan.steps)")
        }
        guard let job = activeTraining else { return }
        if !job.participants.isEmpty || !job.invited.isEmpty { job.waitingSince = nil }
        formFirstRing(job)
        // Every worker of the member that is not in the run yet is asked to join it.
        for worker in registry.workers.values.sorted(by: { $0.identity.lexicographicallyPrecedes($1.identity) })
        where worker.member == job.member && worker.training == nil && job.refusals[worker.name] == nil {
            let join = Wire.TrainJoin(run: job.id, data: job.record.data, weights: job.record.weights, settings: job.record.settings)
            guard sent(workerSocket, worker.identity, WireCodec.frames(.trainJoin, join)) else { continue }
            job.invited[Self.ringID(worker.identity)] = worker.identity
            scheduler.setTraining(worker.identity, job.id)
        }
        if job.ring.ring.isEmpty && job.invited.isEmpty && job.participants.isEmpty {
            let since = job.waitingSince ?? Date()
            job.waitingSince = since
            if job.record.rings.isEmpty && Date().timeIntervalSince(since) > config.memberDeadline {
                // A run that never had a worker fails as a slide job does; one that lost its
                // workers waits for them, its checkpoints kept.
                failTraining(job, "no worker of member \(memberNames[job.member]) joined within \(Int(config.memberDeadline)) s (member_deadline)")
            } else if job.refusals.isEmpty {
                job.record.note = "waiting for a worker of member \(memberNames[job.member])"
            } else if registry.count(of: job.member) > 0 {
                failTraining(job, "no worker of member \(memberNames[job.member]) could join: "
                             + job.refusals.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; "))
            }
        }
    }

    /// Carries out the ring's decisions.
    func perform(_ job: TrainingJob, _ actions: [TrainingRing.Action]) {
        for action in actions {
            switch action {
            case .start(let step, let epoch, let ring, _):
                job.heldStart = action
                if job.record.rings.last?.epoch != epoch {
                    job.record.rings.append(TrainingJob.RingChange(step: step, epoch: epoch, workers: ring.compactMap { job.participants[$0]?.name }))
                    persist(job)
                    log.info("training run \(job.id): ring of \(ring.count) from step \(step + 1) (epoch \(epoch))")
                }
            case .sendState:
                break // `releaseHeld` gives every member that lacks the state what it needs
            case .committed(let step):
                job.losses.append(job.lastLoss ?? 0)
                if let started = job.stepStarted {
                    let seconds = Date().timeIntervalSince(started)
                    job.recentSteps = Array((job.recentSteps + [seconds]).suffix(10))
                    job.record.seconds = (job.record.seconds ?? 0) + seconds
                }
                let plan = job.plan
                if step % plan.checkpointEvery == 0 || step == plan.steps || (plan.validateEvery > 0 && step % plan.validateEvery == 0),
                   let source = job.ring.ring.first(where: { job.participants[$0]?.holds == step }) {
                    askForState(job, step: step, from: source, model: true)
                }
            case .waiting:
                job.heldStart = nil
                job.record.note = "waiting for a worker of member \(memberNames[job.member])"
            case .stop(let reason):
                failTraining(job, reason)
            case .finished:
                job.finishing = true
            }
        }
        releaseHeld(job)
    }

    private func askForState(_ job: TrainingJob, step: Int, from source: String, model: Bool) {
        guard let participant = job.participants[source] else { return }
        job.pendingSave = (step, source, model)
        send(workerSocket, participant.identity, WireCodec.frames(.trainSave, Wire.TrainSave(run: job.id, step: step, model: model)))
    }

    /// Sends the held step once nothing waits on a worker's state: first the state to every
    /// member that lacks it — from a member that holds it, or from the checkpoint — and
    /// when nobody holds it, goes back to the last checkpoint.
    func releaseHeld(_ job: TrainingJob) {
        guard job.state == .running else { return }
        if let save = job.pendingSave, job.participants[save.from] == nil {
            job.pendingSave = nil
            if let source = job.ring.ring.first(where: { job.participants[$0]?.holds == save.step }) {
                askForState(job, step: save.step, from: source, model: save.model)
            } else if job.finishing {
                return failTraining(job, "every worker holding the last step was lost before its checkpoint was written; "
                                    + "the checkpoint at step \(job.checkpointStep) is kept in \(job.directory)")
            } else {
                log.warning("training run \(job.id): the checkpoint at step \(save.step) was lost with its workers")
            }
        }
        if let transfer = job.pendingTransfer, job.participants[transfer.from] == nil { job.pendingTransfer = nil }
        guard job.pendingSave == nil, job.pendingTransfer == nil else { return }
        if job.finishing { return finishTraining(job) }
        guard case .start(let step, let epoch, let ring, let shares)? = job.heldStart else { return }
        // The run's state at step 0 is kept as its first checkpoint, so a ring that loses
        // every member later can always go back to one.
        if step == 0, job.checkpointStep == 0, !FileManager.default.fileExists(atPath: job.weightsPath),
           let source = ring.first(where: { job.participants[$0]?.holds == 0 }) {
            return askForState(job, step: 0, from: source, model: false)
        }
        let lacking = ring.filter { job.participants[$0]?.holds != step }
        if !lacking.isEmpty {
            if let source = ring.first(where: { job.participants[$0]?.holds == step }) {
                job.pendingTransfer = (step, source, lacking)
                send(workerSocket, job.participants[source]!.identity, WireCodec.frames(.trainSave, Wire.TrainSave(run: job.id, step: step, model: false)))
                return
            }
            guard step == job.checkpointStep else {
                log.warning("training run \(job.id): no worker holds the state after step \(step); going back to the checkpoint at step \(job.checkpointStep)")
                job.losses = Array(job.losses.prefix(job.checkpointStep))
                return perform(job, job.ring.rewind(to: job.checkpointStep))
            }
            let weights: Data, optimizer: Data
            do {
                weights = try Data(contentsOf: URL(fileURLWithPath: job.weightsPath))
                optimizer = try Data(contentsOf: URL(fileURLWithPath: job.optimizerPath))
            } catch {
                return failTraining(job, "cannot read its checkpoint at step \(step) in \(job.directory): \(error.localizedDescription)")
            }
            for id in lacking {
                send(workerSocket, job.participants[id]!.identity, WireCodec.frames(Wire.TrainStateHeader(run: job.id, step: step, dice: nil),
                                                                                   weights: [UInt8](weights), optimizer: [UInt8](optimizer)))
                job.participants[id]?.holds = step
            }
        }
        let endpoints = ring.map { job.participants[$0]!.endpoint }
        for (rank, id) in ring.enumerated() {
            let share = shares[id]!
            let message = Wire.TrainStep(run: job.id, step: step, epoch: epoch, rank: rank, ring: endpoints, first: share.lowerBound, end: share.upperBound)
            send(workerSocket, job.participants[id]!.identity, WireCodec.frames(.trainStep, message))
        }
        job.heldStart = nil
        job.stepStarted = Date()
        job.record.note = nil
    }

    /// A worker that cannot take part: it goes back to tiles and is not asked again.
    private func refuse(_ job: TrainingJob, _ identity: [UInt8], _ reason: String) {
        let name = registry.workers[identity]?.name ?? Self.ringID(identity)
        log.warning("training run \(job.id): worker \(name) leaves: \(reason)")
        job.refusals[name] = reason
        send(workerSocket, identity, WireCodec.frames(.trainStop, Wire.TrainStop(run: job.id, reason: reason)))
        scheduler.setTraining(identity, nil)
    }

    /// Every worker of the run goes back to tiles.
    private func release(_ job: TrainingJob, _ reason: String) {
        for identity in Array(job.participants.values.map(\.identity)) + Array(job.invited.values) {
            send(workerSocket, identity, WireCodec.frames(.trainStop, Wire.TrainStop(run: job.id, reason: reason)))
            scheduler.setTraining(identity, nil)
        }
        job.participants = [:]
        job.invited = [:]
    }

    private func finishTraining(_ job: TrainingJob) {
        job.finishing = false
        job.end(.finished)
        persist(job)
        release(job, "the run is finished")
        let dice = job.record.validation.last.map { String(format: ", held-out Dice %.4f", $0.dice) } ?? ""
        log.info("training run \(job.id) finished: \(job.plan.steps) steps\(dice); model in \(job.modelPath)")
        if let finished = finished(job) { send(clientSocket, job.client, WireCodec.frames(.trainFinished, finished)) }
    }

    func failTraining(_ job: TrainingJob, _ reason: String) {
        guard job.state == .running || job.state == .queued else { return }
        log.error("training run \(job.id) failed: \(reason)")
        job.end(.failed, note: reason)
        persist(job)
        release(job, "the run failed")
        send(clientSocket, job.client, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: reason)))
    }
}
