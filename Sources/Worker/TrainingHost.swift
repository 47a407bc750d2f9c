import Core
import Engine
import Foundation
import Shared
import Synchronization
import Training
import ZeroMQ

/// A worker's part in data-parallel training runs (docs/PROTOCOL.md, "Training"), on a
/// thread of its own so that the I/O thread keeps its heartbeat whatever a step costs.
///
/// It holds at most one run: a `TrainingReplica` of the run's member, the run's data, and
/// the worker's end of the ring, bound once per run and re-formed (`RingAllReduce.reform`)
/// whenever the coordinator starts an epoch. Commands run in order. The I/O thread records
/// the run and the newest epoch the coordinator wants as it hands commands over, so a step
/// stuck in an all-reduce with a lost peer is abandoned at once, its replica rolled back,
/// and steps of an older epoch still queued are skipped. Answers go back as frames, and a
/// `Doorbell` wakes the I/O thread.
final class TrainingHost: @unchecked Sendable {
    /// Readable when messages wait (`takeMessages`).
    var doorbell: ZMQSocket { bell.socket }
    private let bell: Doorbell
    /// Where this worker's ring socket binds (`tessera worker --ring-bind`).
    private let ringBind: String
    private let security: ClusterConfig.Security?
    /// How long a ring waits for a peer's segment: the coordinator notices a lost worker
    /// first and re-forms the ring, which abandons the wait.
    private let ringTimeoutMilliseconds: Int
    private let log: Log
    /// Commands with the session generation they were handed over in, run on the training
    /// thread.
    private var mailbox: MailboxThread<(command: WorkerLink.TrainingCommand, generation: Int)>!
    /// Messages with the generation of the session that posted them: those of a session
    /// given up since are never sent (the coordinator has forgotten it).
    private let outbox = Mutex<[(frames: [[UInt8]], generation: Int)]>([])
    /// The run the coordinator wants this worker in, the newest epoch it started, and the
    /// session's generation: every join and abandon starts a new one, so that a step of a
    /// session given up is abandoned even when the next session is of the same run.
    private let wanted = Mutex(ReplicaRules.Wanted())
    /// The generation of the command in hand (training thread only).
    private var current = 0
    /// The run in hand (training thread only).
    private var session: Session?

    /// One run's replica, data and ring.
    private final class Session {
        let run: UInt64
        let settings: TrainingSettings
        let replica: TrainingReplica
        let validation: TileDataset?
        let context: ZMQContext
        let ring: RingAllReduce
        var epoch = 0
        /// The generation of the join that made it: commands of another are not its.
        let generation: Int
        init(
            run: UInt64, generation: Int, settings: TrainingSettings, replica: TrainingReplica, validation: TileDataset?, context: ZMQContext,
            ring: RingAllReduce
        ) {
            self.run = run; self.generation = generation; self.settings = settings; self.replica = replica; self.validation = validation
            self.context = context; self.ring = ring
        }
    }

    init(context: ZMQContext, ringBind: String, security: ClusterConfig.Security?, ringTimeoutMilliseconds: Int = 600_000, log: Log) throws {
        bell = try Doorbell(context: context, name: "training", log: log)
        self.ringBind = ringBind
        self.security = security
        self.ringTimeoutMilliseconds = ringTimeoutMilliseconds
        self.log = log
        mailbox = MailboxThread(name: "training", onExit: { [self] in session = nil }) { [self] item in
            current = item.generation
            perform(item.command)
        }
    }

    /// Hands a command to the training thread (from the I/O thread).
    func submit(_ command: WorkerLink.TrainingCommand) {
        let generation = wanted.withLock { wanted in
            wanted.take(command)
            return wanted.generation
        }
        // The handler never throws, so neither does posting.
        try? mailbox.post((command, generation))
    }

    /// The run this worker is in, as the coordinator last said.
    var run: UInt64? { wanted.withLock { $0.run } }

    /// The messages for the coordinator since the last call, oldest first.
    func takeMessages() -> [[[UInt8]]] {
        bell.silence()
        let generation = wanted.withLock { $0.generation }
        return outbox.withLock { outbox in
            defer { outbox.removeAll() }
            return outbox.filter { $0.generation == generation }.map(\.frames)
        }
    }

    /// Ends the thread once the command in hand is done (a step in an all-reduce is abandoned).
    func stop() {
        wanted.withLock { $0.take(.abandon) }
        mailbox.stop(wait: true)
    }

    private func post(_ frames: [[UInt8]]) {
        let generation = current
        outbox.withLock { $0.append((frames, generation)) }
        bell.ring()
    }

    private func fail(_ run: UInt64, fatal: Bool, _ reason: String) {
        log.error("training run \(run): \(reason)")
        post(WireCodec.frames(.trainFailed, Wire.TrainFailed(run: run, fatal: fatal, reason: String(reason.prefix(WireLimits.reasonBytes / 2)))))
    }

    private func perform(_ command: WorkerLink.TrainingCommand) {
        switch command {
        case .join(let join):
            session = nil
            guard wanted.withLock({ $0.wants(run: join.run, generation: current, epoch: nil) }) else { return }
            do {
                session = try makeSession(join)
                let digest = try FileDigest.full((join.data as NSString).appendingPathComponent("train.csv"))
                log.info(
                    "training run \(join.run): ready, \(session!.replica.data.tiles.count) training tiles, ring at \(session!.ring.endpoint)",
                    ["run": "\(join.run)"])
                post(
                    WireCodec.frames(
                        .trainReady,
                        Wire.TrainReady(
                            run: join.run, endpoint: session!.ring.endpoint, dataDigest: digest,
                            trainingTiles: session!.replica.data.tiles.count)))
            } catch {
                session = nil
                fail(join.run, fatal: true, "cannot join: \(error)")
            }
        case .step(let step):
            guard let session, session.run == step.run, session.generation == current,
                wanted.withLock({ $0.wants(run: step.run, generation: current, epoch: step.epoch) })
            else { return }
            run(step, in: session)
        case .save(let save):
            guard let session, session.run == save.run, session.generation == current else { return }
            do {
                let replica = session.replica
                guard let commitFirst = ReplicaRules.save(step: save.step, applied: replica.step, committed: replica.committedStep) else {
                    return fail(
                        save.run, fatal: false, "asked for the state at step \(save.step); this replica's committed state is at step \(replica.committedStep)")
                }
                if commitFirst { replica.commit() }
                let state = try replica.committedState()
                var model = Data(), dice: Double?
                if save.model {
                    (model, dice) = try TrainingEvaluation.model(
                        replica.trainer, data: replica.data, validation: session.validation,
                        settings: session.settings)
                }
                post(
                    WireCodec.frames(
                        Wire.TrainStateHeader(run: save.run, step: save.step, dice: dice),
                        weights: [UInt8](state.weights), optimizer: [UInt8](state.optimizer), model: [UInt8](model)))
            } catch {
                fail(save.run, fatal: false, "cannot save: \(error)")
            }
        case .load(let header, let weights, let optimizer):
            guard let session, session.run == header.run, session.generation == current else { return }
            do {
                try session.replica.load(weights: Data(weights), optimizer: Data(optimizer), step: header.step)
                log.info("training run \(header.run): took the state at step \(header.step)", ["run": "\(header.run)", "step": "\(header.step)"])
            } catch {
                fail(header.run, fatal: false, "cannot take the state at step \(header.step): \(error)")
            }
        case .stop(let stop):
            if session?.run == stop.run {
                log.info("training run \(stop.run): left (\(stop.reason))", ["run": "\(stop.run)"])
                session = nil
            }
        case .abandon:
            session = nil
        }
    }

    private func makeSession(_ join: Wire.TrainJoin) throws -> Session {
        let settings: TrainingSettings
        do { settings = try WholeNumbers.decode(TrainingSettings.self, from: Array(join.settings.utf8)) } catch let violation as WholeNumbers.Violation {
            throw TesseraError("settings", "\(violation)")
        }
        try settings.check()
        let (data, validation) = try settings.datasets(dataFolder: join.data)
        let trainer = try settings.trainer(store: try settings.initialStore(weights: join.weights))
        let context = try ZMQContext()
        let ring = try RingAllReduce(context: context, rank: 0, members: 1, bind: ringBind, security: security, log: log)
        ring.timeoutMilliseconds = ringTimeoutMilliseconds
        let run = join.run, generation = current
        ring.shouldAbort = { [unowned self] in !wanted.withLock { $0.wants(run: run, generation: generation, epoch: nil) } }
        return Session(
            run: run, generation: generation, settings: settings, replica: TrainingReplica(trainer: trainer, data: data, settings: settings),
            validation: validation, context: context, ring: ring)
    }

    /// Runs one step: rolls back first when it redoes a step the ring did not commit, or
    /// commits the previous one; a step abandoned for a newer epoch answers nothing.
    private func run(_ step: Wire.TrainStep, in session: Session) {
        let replica = session.replica
        switch ReplicaRules.start(step: step.step, applied: replica.step, committed: replica.committedStep) {
        case .rollBack?: replica.rollBack()
        case .commit?: replica.commit()
        case nil: return fail(step.run, fatal: false, "asked for the step from step \(step.step); this replica is at step \(replica.step)")
        }
        guard step.end <= session.settings.batch else {
            return fail(step.run, fatal: false, "slots \(step.first)..<\(step.end) lie outside the batch of \(session.settings.batch)")
        }
        guard step.ring[step.rank] == session.ring.endpoint else {
            return fail(step.run, fatal: false, "rank \(step.rank) of the ring is \(step.ring[step.rank]), not this worker (\(session.ring.endpoint))")
        }
        let started = Date(), summing = session.ring.secondsSumming
        do {
            if step.epoch != session.epoch {
                try session.ring.reform(
                    rank: step.rank, members: step.ring.count, successor: step.ring[(step.rank + 1) % step.ring.count],
                    epoch: UInt16(truncatingIfNeeded: step.epoch))
                session.epoch = step.epoch
            }
            let epoch = step.epoch, run = step.run, generation = current
            session.ring.shouldAbort = { [unowned self] in !wanted.withLock { $0.wants(run: run, generation: generation, epoch: epoch) } }
            let (loss, digest) = try replica.run(step: step.step, share: step.first..<step.end, replicas: session.ring)
            post(
                WireCodec.frames(
                    .trainDone,
                    Wire.TrainDone(
                        run: step.run, step: step.step, epoch: step.epoch, loss: loss, digest: digest,
                        seconds: Date().timeIntervalSince(started),
                        allReduceSeconds: session.ring.secondsSumming - summing)))
        } catch is RingAllReduce.Aborted {
            replica.rollBack()
            log.info(
                "training run \(step.run): the step from step \(step.step) (epoch \(step.epoch)) abandoned for a newer ring",
                ["run": "\(step.run)", "step": "\(step.step)"])
        } catch let error as TesseraError where error.subject == "ring" {
            replica.rollBack()
            fail(step.run, fatal: false, "the step from step \(step.step): \(error)")
        } catch {
            replica.rollBack()
            fail(step.run, fatal: true, "the step from step \(step.step): \(error)")
        }
    }
}
