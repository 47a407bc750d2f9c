import Core
import Foundation
import Shared
import Tiling
import ZeroMQ

/// The worker link (docs/PROTOCOL.md): registration, results, losses, and sending the
/// tiles the scheduler picks.
extension CoordinatorServer {
    func handleWorker(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else { return dropped("a worker message without routing id") }
        let identity = frames[0]
        let raw = Array(frames.dropFirst())
        guard case .success(let (kind, body)) = WireCodec.open(raw) else {
            if !answerOtherVersion(workerSocket, identity, raw, asking: [.register], answer: .refuse),
                case .failure(let error) = WireCodec.open(raw)
            {
                dropped("worker message: \(error)")
            }
            return
        }
        // Decoded whole before anything is done: a malformed message changes nothing, and is
        // no sign of life (docs/PROTOCOL.md, "Malformed messages").
        enum Message {
            case register(Wire.Register), heartbeat, result(Wire.TileResult, [UInt8]), failure(Wire.TileFailure), goodbye
            case trainReady(Wire.TrainReady), trainDone(Wire.TrainDone), trainFailed(Wire.TrainFailed)
            case trainState(Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8], model: [UInt8])
        }
        let decoded: Result<Message, WireError>
        switch kind {
        case .register: decoded = WireCodec.decode(Wire.Register.self, body[0]).map { .register($0) }
        case .heartbeat: decoded = .success(.heartbeat)
        case .goodbye: decoded = .success(.goodbye)
        case .result: decoded = WireCodec.result(body, maxSize: config.settings.tileSize).map { .result($0.0, $0.1) }
        case .tileFailed: decoded = WireCodec.decode(Wire.TileFailure.self, body[0]).map { .failure($0) }
        case .trainReady: decoded = WireCodec.decode(Wire.TrainReady.self, body[0]).map { .trainReady($0) }
        case .trainDone: decoded = WireCodec.decode(Wire.TrainDone.self, body[0]).map { .trainDone($0) }
        case .trainFailed: decoded = WireCodec.decode(Wire.TrainFailed.self, body[0]).map { .trainFailed($0) }
        case .trainState: decoded = WireCodec.trainState(body).map { .trainState($0.0, weights: $0.weights, optimizer: $0.optimizer, model: $0.model) }
        default: decoded = .failure(WireError("\(kind) is not a message workers send"))
        }
        let message: Message
        switch decoded {
        case .failure(let error): return dropped("worker message: \(error)")
        case .success(let value): message = value
        }
        let now = Date()
        if case .register(let register) = message { return registerWorker(identity, register, now: now) }
        guard registry.isRegistered(identity) else {
            // Only heartbeats and tile answers are answered with registerAgain; anything else
            // from a worker this coordinator does not know (an earlier session's training
            // messages, still in flight) is dropped (docs/PROTOCOL.md, "Worker link").
            switch message {
            case .heartbeat, .result, .failure: return send(workerSocket, identity, WireCodec.frames(.registerAgain))
            case .goodbye: return
            default: return dropped("\(kind) from a worker that is not registered")
            }
        }
        scheduler.heard(identity, at: now)
        switch message {
        case .register, .heartbeat: break
        case .result(let result, let map): accept(result, map: map, from: identity)
        case .failure(let failure):
            guard let assignment = scheduler.complete(failure.request, by: identity) else { return }
            if let job = job(assignment.job) {
                fail(job, "member \(memberNames[assignment.member]) could not predict \(assignment.tile): \(failure.reason)")
            }
        case .goodbye:
            log.info("worker \(registry.workers[identity]?.name ?? "?") left")
            lose(identity, because: "left")
        case .trainReady(let ready): trainReady(ready, from: identity)
        case .trainDone(let done): trainDone(done, from: identity)
        case .trainFailed(let failure): trainFailed(failure, from: identity)
        case .trainState(let header, let weights, let optimizer, let model):
            trainState(header, weights: weights, optimizer: optimizer, model: model, from: identity)
        }
    }

    func registerWorker(_ identity: [UInt8], _ register: Wire.Register, now: Date) {
        guard register.protocolVersion == Int(WireHeader.version) else {
            return send(
                workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason("protocol version \(register.protocolVersion) is not \(WireHeader.version)")))
        }
        guard let member = memberNames.firstIndex(of: register.member) else {
            return send(
                workerSocket, identity,
                WireCodec.frames(.refuse, Wire.Reason("no member \"\(register.member)\" in this cluster (members: \(memberNames.joined(separator: ", ")))")))
        }
        guard register.architecture == config.members[member].architecture else {
            return send(
                workerSocket, identity,
                WireCodec.frames(.refuse, Wire.Reason("member \(register.member) is a \(config.members[member].architecture), not a \(register.architecture)")))
        }
        // Tiles are read and resampled by the pixel sizes of the coordinator's configuration,
        // and the mask must be `infer --config`'s: a worker that resamples or normalises its
        // tiles otherwise is refused.
        let ours = config.members[member]
        let mismatch: String? =
            register.pixelSize != ours.pixelSize
            ? "\(ours.pixelSize.map { "pixel_size \($0)" } ?? "no pixel_size") in \(config.source), the worker's configuration \(register.pixelSize.map { "pixel_size \($0)" } ?? "none")"
            : register.stain != ours.stain
                ? "stain \(ours.stain?.rawValue ?? "off") in \(config.source), the worker's configuration stain \(register.stain?.rawValue ?? "off")" : nil
        if let mismatch {
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason("member \(register.member) has \(mismatch)")))
        }
        guard register.tileSides.accepts(config.settings.tileSize) else {
            let reason =
                "worker \(register.name) of member \(register.member) takes tile \(register.tileSides), not this cluster's \(config.settings.tileSize) (tile in \(config.source))"
            log.warning("refused \(reason)")
            tileRefusals[member] = reason
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason(reason)))
        }
        let kernels = register.kernels ?? ""
        let others = kernels.isEmpty ? [] : registry.otherKernels(of: member, than: kernels)
        let previous = registry.workers[identity]?.name
        let requeued = registry.isRegistered(identity) ? registry.workers[identity]!.inFlight.count : 0
        // Registering again starts afresh: out of any training run too.
        if registry.isRegistered(identity) {
            trainingLost(identity)
            meter.lost(reason: "registered again", requeued: requeued)
        }
        let refusal = scheduler.register(
            identity: identity, name: register.name, member: member, digest: register.weightsDigest,
            threads: register.threads, kernels: kernels, now: now)
        if requeued > 0 { log.warning("worker \(previous ?? "?") registered again with \(requeued) tiles; they go to other workers") }
        if let reason = refusal {
            log.warning("refused worker \(register.name): \(reason)")
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason(reason)))
        }
        if !others.isEmpty {
            log.warning(
                "worker \(register.name) computes with \(kernels), other workers of member \(register.member) with \(others.sorted().joined(separator: "; ")): their maps may differ in the last bits, so masks may too (docs/ENGINE.md)"
            )
        }
        tileRefusals[member] = nil
        log.info("worker \(register.name) joined for member \(register.member)")
        send(
            workerSocket, identity,
            WireCodec.frames(
                .welcome,
                Wire.Welcome(
                    heartbeatMilliseconds: Int(config.heartbeatInterval * 1000), liveness: config.heartbeatLiveness, credit: config.workerCredit,
                    trainingLiveness: config.heartbeatTrainingLiveness)))
    }

    /// A worker is gone: its tiles go back to the front of its member's queue.
    func lose(_ identity: [UInt8], because reason: String) {
        let name = registry.workers[identity]?.name ?? "?"
        trainingLost(identity)
        let requeued = scheduler.lose(identity)
        meter.lost(reason: reason, requeued: requeued)
        if requeued > 0 { log.warning("worker \(name) lost with \(requeued) tiles; they go to other workers") }
    }

    func accept(_ result: Wire.TileResult, map: [UInt8], from identity: [UInt8]) {
        guard let assignment = scheduler.assignments[result.request], assignment.worker == identity,
            assignment.job == result.job, assignment.tile == TileIndex(row: Int(result.row), column: Int(result.column))
        else {
            return  // late or stray: its tile was given to another worker, or never existed
        }
        let size = config.settings.tileSize, inset = config.settings.mapInset, side = size - 2 * inset
        guard Int(result.size) == size, Int(result.inset) == inset, result.encoding == config.settings.maps,
            map.count == side * side * result.encoding.bytesPerPixel
        else {
            return dropped("result of the wrong size or encoding from \(registry.workers[identity]?.name ?? "?")")
        }
        _ = scheduler.complete(result.request, by: identity)
        guard let job = job(result.job), job.state == .running, let stitchWorker = job.stitchWorker else { return }
        clock.time(.handOver) { stitchWorker.add(tile: assignment.tile, member: assignment.member, map: map) }
        job.memberDone[assignment.member] += 1
        let linear = assignment.tile.row * job.plan!.columns + assignment.tile.column
        job.owed[linear, default: 1] -= 1
        let finished = job.owed[linear] == 0
        if finished {
            job.owed[linear] = nil
            job.tilesDone += 1
        }
        meter.tileReturned(result.request, member: memberNames[assignment.member], tileFinished: finished, at: Date())
        if job.tilesDone == job.tilesTotal { finalize(job) }
    }

    /// Tiles lost with a worker are read again by the job's slide readers, off this thread.
    func rereadLostTiles() {
        for (id, tile) in scheduler.tilesToRead() { job(id)?.prefetcher?.reread(tile) }
        guard let job = activeJob, let prefetcher = job.prefetcher else { return }
        do {
            for (tile, pixels) in try prefetcher.takeRereads() { scheduler.supply(job: job.id, tile: tile, pixels: pixels) }
        } catch {
            fail(job, "\(error)")
        }
    }

    func dispatch() {
        rereadLostTiles()
        while let next = scheduler.nextDispatch(at: Date()) {
            guard let job = job(next.task.job), job.state == .running else {
                scheduler.withdraw(next)
                continue
            }
            let settings = config.settings, source = job.source
            let header = Wire.TileRequest(
                job: job.id, request: next.request, row: UInt32(next.task.tile.row), column: UInt32(next.task.tile.column),
                size: UInt32(settings.tileSize / source.downsample), encoding: settings.maps, flips: settings.flips,
                inset: UInt32(settings.mapInset), mapSize: UInt32(settings.tileSize), pixelSize: source.tilePixelSize ?? 0)
            guard clock.time(.send, { sent(workerSocket, next.worker, WireCodec.frames(header, pixels: next.task.pixels!)) }) else {
                let name = registry.workers[next.worker]?.name ?? "?"
                let requeued = scheduler.sendFailed(next)
                meter.lost(reason: "unreachable", requeued: requeued)
                if requeued > 0 { log.warning("worker \(name) lost with \(requeued) tiles; they go to other workers") }
                continue
            }
            meter.tileSent(next.request, at: Date())
        }
    }
}
