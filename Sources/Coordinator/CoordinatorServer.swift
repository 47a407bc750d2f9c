import Core
import Foundation
import Segmentation
import Shared
import ZeroMQ

/// The coordinator process: accepts workers and clients, runs jobs FIFO, shards tiles to
/// the workers of every member, blends their maps and hands back masks
/// (docs/PROTOCOL.md). One thread polls every socket; every send to a peer is
/// non-blocking, so no slow peer holds the others up.
public final class CoordinatorServer {
    public let config: ClusterConfig
    private let log: Log
    private let memberNames: [String]

    private var context: ZMQContext!
    private var workerSocket: ZMQSocket!
    private var clientSocket: ZMQSocket!
    private var metricsSocket: ZMQSocket?
    private var zap: ZAPAuthenticator?

    private var registry: WorkerRegistry
    private var jobs: [SlideJob] = []
    private var journal: JobJournal!
    private var nextJobID: UInt64 = 1
    private var nextRequest: UInt64 = 1

    /// A tile for one member, waiting for a worker.
    private struct Task { let job: UInt64; let tile: TileIndex; let member: Int; var pixels: [UInt8]? }
    private var queues: [[Task]]
    private struct Assignment { let job: UInt64; let tile: TileIndex; let member: Int; let worker: [UInt8] }
    private var assignments: [UInt64: Assignment] = [:]

    private var clock = PhaseClock()
    private var lastHeartbeat = Date.distantPast
    private var lastProgress = Date.distantPast
    private var lastPrune = Date.distantPast
    /// Tiles of the jobs removed after `keep_results`, so the metric still only grows.
    private var tilesDoneOfRemovedJobs = 0
    private var droppedMessages = 0
    /// Why the last worker refused for each member could not take this cluster's tiles,
    /// until a worker of that member joins: submits are refused with it meanwhile.
    private var tileRefusals: [Int: String] = [:]

    /// Called with each line a test or a supervisor may wait for ("ready ...").
    public var onReady: ((String) -> Void)?

    public init(config: ClusterConfig) throws {
        self.config = config
        log = Log("coordinator")
        memberNames = config.members.map(\.name)
        var pinned: [Int: String] = [:]
        for (index, member) in config.members.enumerated() { if let digest = member.digest { pinned[index] = digest } }
        registry = WorkerRegistry(credit: config.workerCredit, pinnedDigests: pinned)
        queues = Array(repeating: [], count: config.members.count)
    }

    /// Binds and serves until SIGINT/SIGTERM.
    public func run() throws {
        try open()
        let line = "ready workers=\(try workerSocket.lastEndpoint) clients=\(try clientSocket.lastEndpoint)"
        log.info(line)
        onReady?(line)
        while !StopSignal.requested {
            var sockets: [ZMQSocket] = [workerSocket, clientSocket]
            if let zap { sockets.append(zap.socket) }
            if let metricsSocket { sockets.append(metricsSocket) }
            // Wait briefly while tiles wait to be admitted (the reader thread may have them
            // soon); otherwise until a message comes or the next heartbeat is near.
            let ready = try ZMQPoller.pollIn(sockets, timeoutMilliseconds: admissionPending ? 1 : 20)
            if let zap, ready[2] { try zap.answer() }
            // Drain what is queued, bounded so one busy socket cannot starve the others.
            if ready[0] {
                for _ in 0..<256 {
                    guard let frames = try clock.time(.receive, { try workerSocket.receive(dontWait: true) }) else { break }
                    handleWorker(frames)
                }
            }
            if ready[1] { for _ in 0..<64 { guard let frames = try clientSocket.receive(dontWait: true) else { break }; handleClient(frames) } }
            if let metricsSocket, ready[sockets.count - 1], (try metricsSocket.receive(dontWait: true)) != nil {
                try metricsSocket.send([Array(metrics().utf8)])
            }
            tick()
        }
        log.info("stopping")
    }

    /// Takes back the journal's jobs and binds the sockets, in `context` when given (an
    /// in-process driver, such as the fuzzer, shares its context to reach inproc endpoints).
    package func open(context given: ZMQContext? = nil) throws {
        runStartCPU = ThreadCPU.current()
        journal = try JobJournal(directory: config.stateDirectory)
        restoreJobs()
        context = try given ?? ZMQContext()
        if let security = config.security {
            zap = try ZAPAuthenticator(context: context, security: security, log: log)
        }
        workerSocket = try ClusterSockets.coordinatorRouter(context, config: config, endpoint: config.workerEndpoint, domain: "workers",
                                                            maxMessage: ClusterSockets.maxWorkerMessage(config))
        clientSocket = try ClusterSockets.coordinatorRouter(context, config: config, endpoint: config.clientEndpoint, domain: "clients",
                                                            maxMessage: Int64(ClusterSockets.chunkBytes + 65536))
        if let endpoint = config.metricsEndpoint {
            let socket = try ZMQSocket(context: context, type: .rep)
            try socket.setMaxMessageSize(ClusterSockets.maxMetricsRequest)
            try socket.bind(endpoint)
            metricsSocket = socket
        }
    }

    /// One message as the sockets would hand it over (routing id first), then a tick: the
    /// entry of in-process drivers.
    package func handle(workerMessage frames: [[UInt8]]) { handleWorker(frames); tick() }
    package func handle(clientMessage frames: [[UInt8]]) { handleClient(frames); tick() }
    /// The metrics text, as the metrics socket answers it.
    package func metricsText() -> String { metrics() }
    /// Ends every job still open, stopping the threads they hold (in-process drivers, which
    /// make many coordinators in one process).
    package func endJobs() {
        for job in jobs where job.state != .finished && job.state != .failed { job.end(.failed) }
    }

    // MARK: Workers

    private func handleWorker(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else { return dropped("a worker message without routing id") }
        let identity = frames[0]
        let raw = Array(frames.dropFirst())
        guard case .success(let (kind, body)) = WireCodec.open(raw) else {
            if !answerOtherVersion(workerSocket, identity, raw, asking: [.register], answer: .refuse),
               case .failure(let error) = WireCodec.open(raw) {
                dropped("worker message: \(error)")
            }
            return
        }
        // Decoded whole before anything is done: a malformed message changes nothing, and is
        // no sign of life (docs/PROTOCOL.md, "Malformed messages").
        enum Message { case register(Wire.Register), heartbeat, result(Wire.TileResult, [UInt8]), failure(Wire.TileFailure), goodbye }
        let decoded: Result<Message, WireError>
        switch kind {
        case .register: decoded = WireCodec.decode(Wire.Register.self, body[0]).map { .register($0) }
        case .heartbeat: decoded = .success(.heartbeat)
        case .goodbye: decoded = .success(.goodbye)
        case .result: decoded = WireCodec.result(body, maxSize: config.settings.tileSize).map { .result($0.0, $0.1) }
        case .tileFailed: decoded = WireCodec.decode(Wire.TileFailure.self, body[0]).map { .failure($0) }
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
            if case .goodbye = message { return }
            return send(workerSocket, identity, WireCodec.frames(.registerAgain))
        }
        registry.heard(identity, at: now)
        switch message {
        case .register, .heartbeat: break
        case .result(let result, let map): accept(result, map: map, from: identity)
        case .failure(let failure):
            guard let assignment = assignments[failure.request], assignment.worker == identity else { return }
            assignments[failure.request] = nil
            _ = registry.complete(failure.request, by: identity)
            if let job = job(assignment.job) {
                fail(job, "member \(memberNames[assignment.member]) could not predict \(assignment.tile): \(failure.reason)")
            }
        case .goodbye:
            log.info("worker \(registry.workers[identity]?.name ?? "?") left")
            lose(identity)
        }
    }

    private func registerWorker(_ identity: [UInt8], _ register: Wire.Register, now: Date) {
        guard register.protocolVersion == Int(WireHeader.version) else {
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason("protocol version \(register.protocolVersion) is not \(WireHeader.version)")))
        }
        guard let member = memberNames.firstIndex(of: register.member) else {
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason("no member \"\(register.member)\" in this cluster (members: \(memberNames.joined(separator: ", ")))")))
        }
        guard register.architecture == config.members[member].architecture else {
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason("member \(register.member) is a \(config.members[member].architecture), not a \(register.architecture)")))
        }
        guard register.tileSides.accepts(config.settings.tileSize) else {
            let reason = "worker \(register.name) of member \(register.member) takes tile \(register.tileSides), not this cluster's \(config.settings.tileSize) (tile in \(config.source))"
            log.warning("refused \(reason)")
            tileRefusals[member] = reason
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason(reason)))
        }
        if registry.isRegistered(identity) { lose(identity) }
        let kernels = register.kernels ?? ""
        let others = kernels.isEmpty ? [] : registry.otherKernels(of: member, than: kernels)
        if let reason = registry.register(identity: identity, name: register.name, member: member, digest: register.weightsDigest,
                                          threads: register.threads, kernels: kernels, now: now) {
            log.warning("refused worker \(register.name): \(reason)")
            return send(workerSocket, identity, WireCodec.frames(.refuse, Wire.Reason(reason)))
        }
        if !others.isEmpty {
            log.warning("worker \(register.name) computes with \(kernels), other workers of member \(register.member) with \(others.sorted().joined(separator: "; ")): their maps may differ in the last bits, so masks may too (docs/ENGINE.md)")
        }
        tileRefusals[member] = nil
        log.info("worker \(register.name) joined for member \(register.member)")
        send(workerSocket, identity, WireCodec.frames(.welcome, Wire.Welcome(
            heartbeatMilliseconds: Int(config.heartbeatInterval * 1000), liveness: config.heartbeatLiveness, credit: config.workerCredit)))
    }

    /// A worker is gone: its tiles go back to the front of its member's queue.
    private func lose(_ identity: [UInt8]) {
        let name = registry.workers[identity]?.name ?? "?"
        let requests = registry.remove(identity)
        for request in requests.sorted().reversed() {
            guard let assignment = assignments.removeValue(forKey: request) else { continue }
            queues[assignment.member].insert(Task(job: assignment.job, tile: assignment.tile, member: assignment.member, pixels: nil), at: 0)
        }
        if !requests.isEmpty { log.warning("worker \(name) lost with \(requests.count) tiles; they go to other workers") }
    }

    private func accept(_ result: Wire.TileResult, map: [UInt8], from identity: [UInt8]) {
        guard let assignment = assignments[result.request], assignment.worker == identity,
              assignment.job == result.job, assignment.tile == TileIndex(row: Int(result.row), column: Int(result.column)) else {
            return // late or stray: its tile was given to another worker, or never existed
        }
        guard let job = job(result.job), job.state == .running, let stitchWorker = job.stitchWorker else {
            assignments[result.request] = nil
            _ = registry.complete(result.request, by: identity)
            return
        }
        let size = config.settings.tileSize, inset = config.settings.mapInset, side = size - 2 * inset
        guard Int(result.size) == size, Int(result.inset) == inset, result.encoding == config.settings.maps,
              map.count == side * side * result.encoding.bytesPerPixel else {
            return dropped("result of the wrong size or encoding from \(registry.workers[identity]?.name ?? "?")")
        }
        assignments[result.request] = nil
        _ = registry.complete(result.request, by: identity)
        clock.time(.handOver) { stitchWorker.add(tile: assignment.tile, member: assignment.member, map: map) }
        job.memberDone[assignment.member] += 1
        let linear = assignment.tile.row * job.plan!.columns + assignment.tile.column
        job.owed[linear, default: 1] -= 1
        if job.owed[linear] == 0 {
            job.owed[linear] = nil
            job.tilesDone += 1
        }
        if job.tilesDone == job.tilesTotal { finalize(job) }
    }

    // MARK: Scheduling

    private func tick() {
        let now = Date()
        for identity in registry.silent(since: now.addingTimeInterval(-config.heartbeatInterval * Double(config.heartbeatLiveness))) {
            log.warning("worker \(registry.workers[identity]?.name ?? "?") missed \(config.heartbeatLiveness) heartbeats")
            lose(identity)
        }
        if now.timeIntervalSince(lastHeartbeat) >= config.heartbeatInterval {
            for identity in registry.workers.keys { send(workerSocket, identity, WireCodec.frames(.heartbeat)) }
            lastHeartbeat = now
        }
        startNextJob()
        admitTiles()
        dispatch()
        checkWaiting(now)
        checkUploads(now)
        checkStitchResults()
        if now.timeIntervalSince(lastPrune) >= 1 {
            removeExpiredJobs(now)
            lastPrune = now
        }
        if now.timeIntervalSince(lastProgress) >= 0.25 {
            for job in jobs where job.state != .finished && job.state != .failed {
                send(clientSocket, job.client, WireCodec.frames(.progress, job.progress(memberNames: memberNames)))
            }
            lastProgress = now
        }
    }

    private var activeJob: SlideJob? { jobs.first { $0.state == .running } }

    /// Whether the running job has tiles to admit and room in its window.
    private var admissionPending = false

    private func startNextJob() {
        guard activeJob == nil, !jobs.contains(where: { $0.state == .finalizing }),
              let job = jobs.first(where: { $0.state == .queued }) else { return }
        do {
            try job.start(settings: config.settings, memberWeights: config.memberWeights,
                          slideReaders: config.slideReaders ?? ClusterConfig.defaultSlideReaders)
            log.info("job \(job.id) (\(job.name)) started: \(job.plan!.tileCount) tiles")
            clock.reset()
        } catch {
            fail(job, "\(error)")
        }
    }

    /// Admits tiles of the running job into the window: read once, queued for every member.
    private func admitTiles() {
        admissionPending = false
        guard let job = activeJob, let plan = job.plan else { return }
        let credits = config.members.indices.map { registry.count(of: $0) * config.workerCredit }.reduce(0, +)
        let window = min(256, max(8, 2 * credits))
        // Maps waiting to be blended count against the window, bounding memory.
        let backlog = (job.stitchWorker?.backlog ?? 0) / max(1, config.members.count)
        defer { admissionPending = job.owed.count + backlog < window && job.nextTile < plan.tileCount }
        while job.owed.count + backlog < window && job.nextTile < plan.tileCount {
            let tile = TileIndex(row: job.nextTile / plan.columns, column: job.nextTile % plan.columns)
            let pixels: [UInt8]
            do {
                // Tiles come from the reader thread in plan order; none ready yet: try later.
                guard let next = try clock.time(.read, { try job.prefetcher?.next() }) else { return }
                precondition(next.index == job.nextTile, "the tile reader went out of order")
                pixels = next.pixels
            } catch {
                return fail(job, "\(error)")
            }
            for member in config.members.indices {
                queues[member].append(Task(job: job.id, tile: tile, member: member, pixels: pixels))
            }
            job.owed[job.nextTile] = config.members.count
            job.nextTile += 1
        }
    }

    private func dispatch() {
        let now = Date()
        for member in queues.indices {
            while !queues[member].isEmpty, let worker = registry.nextWorker(for: member) {
                var task = queues[member].removeFirst()
                guard let job = job(task.job), job.state == .running else { continue }
                if task.pixels == nil {
                    do { task.pixels = try job.pixels(of: task.tile) } catch { fail(job, "\(error)"); continue }
                }
                let request = nextRequest
                nextRequest += 1
                let header = Wire.TileRequest(job: job.id, request: request, row: UInt32(task.tile.row), column: UInt32(task.tile.column),
                                              size: UInt32(config.settings.tileSize), encoding: config.settings.maps, flips: config.settings.flips,
                                              inset: UInt32(config.settings.mapInset))
                guard clock.time(.send, { sent(workerSocket, worker, WireCodec.frames(header, pixels: task.pixels!)) }) else {
                    queues[member].insert(task, at: 0)
                    lose(worker)
                    continue
                }
                assignments[request] = Assignment(job: job.id, tile: task.tile, member: member, worker: worker)
                registry.assign(request, to: worker, at: now)
            }
        }
    }

    /// A job whose member has no worker waits, and fails past the deadline.
    private func checkWaiting(_ now: Date) {
        guard let job = activeJob else { return }
        let missing = config.members.indices.filter { registry.count(of: $0) == 0 && (!queues[$0].isEmpty || job.owed.isEmpty == false) }
        if missing.isEmpty {
            if job.waitingSince != nil { job.note = nil }
            job.waitingSince = nil
            return
        }
        let names = missing.map { memberNames[$0] }.joined(separator: ", ")
        let since = job.waitingSince ?? now
        job.waitingSince = since
        let refusals = missing.compactMap { tileRefusals[$0] }
        job.note = "waiting for a worker of member \(names)" + (refusals.isEmpty ? "" : "; refused: " + refusals.joined(separator: "; "))
        if now.timeIntervalSince(since) > config.memberDeadline {
            fail(job, "no worker of member \(names) joined within \(Int(config.memberDeadline)) s")
        }
    }

    private func finalize(_ job: SlideJob) {
        let seconds = job.started.map { Date().timeIntervalSince($0) } ?? 0
        log.info("job \(job.id): all \(job.tilesTotal) tiles predicted in \(String(format: "%.2f", seconds)) s (coordinator thread: \(clock.summary)); writing the mask's last rows and its RLE")
        clock.reset()
        job.state = .finalizing
    }

    private func checkStitchResults() {
        for job in jobs where job.state == .finalizing || job.state == .running {
            // Either way the job ends, which releases what it holds.
            guard let result = job.stitchWorker?.result else { continue }
            switch result {
            case .success(let finished):
                job.finished = finished
                job.end(.finished)
                persist(job)
                let seconds = job.started.map { Date().timeIntervalSince($0) } ?? 0
                log.info("job \(job.id) finished: \(job.tilesTotal) tiles in \(String(format: "%.1f", seconds)) s")
                send(clientSocket, job.client, WireCodec.frames(.finished, finished))
            case .failure(let error):
                fail(job, "\(error)")
            }
        }
    }

    private func fail(_ job: SlideJob, _ reason: String) {
        guard job.state != .failed && job.state != .finished else { return }
        log.error("job \(job.id) failed: \(reason)")
        job.note = reason
        job.end(.failed)
        persist(job)
        for member in queues.indices { queues[member].removeAll { $0.job == job.id } }
        for (request, assignment) in assignments where assignment.job == job.id {
            assignments[request] = nil
            _ = registry.complete(request, by: assignment.worker)
        }
        send(clientSocket, job.client, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: reason)))
    }

    private func job(_ id: UInt64) -> SlideJob? { jobs.first { $0.id == id } }

    /// Removes the jobs whose results nobody fetched for `keep_results` seconds after they
    /// ended: their folders (mask, RLE, record) and their place in `status`.
    private func removeExpiredJobs(_ now: Date) {
        for job in jobs where job.hasExpired(keep: config.keepResults, now: now) {
            do {
                try FileManager.default.removeItem(atPath: job.directory)
            } catch {
                log.warning("job \(job.id): cannot remove \(job.directory): \(error.localizedDescription)")
            }
            tilesDoneOfRemovedJobs += job.tilesDone
            log.info("job \(job.id) removed: ended \(Int(now.timeIntervalSince(job.ended!))) s ago (keep_results = \(Int(config.keepResults)))")
        }
        jobs.removeAll { $0.hasExpired(keep: config.keepResults, now: now) }
    }

    // MARK: Journal

    private func persist(_ job: SlideJob) {
        do { try journal.save(job.record) } catch { log.error("job \(job.id): cannot record its state: \(error)") }
    }

    /// Takes back the jobs a previous coordinator on this state directory left: finished
    /// and failed ones as they were, queued and running ones to run again from the start,
    /// uploads to start over when their client attaches.
    private func restoreJobs() {
        let records = journal.load { path, error in log.warning("ignored \(path): \(error)") }
        var again = 0
        for record in records {
            let job = SlideJob(id: record.id, name: record.name, client: [], directory: journal.folder(of: record.id),
                               slidePath: record.slidePath, size: record.size, digest: record.digest, upload: record.upload,
                               members: config.members.count)
            nextJobID = max(nextJobID, record.id + 1)
            job.recordedTiles = record.tiles
            jobs.append(job)
            // Records from before `ended` was kept: the record's last write is when it ended.
            let ended = record.ended.map { Date(timeIntervalSince1970: $0) }
                ?? (try? FileManager.default.attributesOfItem(atPath: job.directory + "/job.json")[.modificationDate] as? Date) ?? Date()
            switch record.state {
            case SlideJob.State.finished.rawValue:
                if let finished = record.finished, FileManager.default.fileExists(atPath: job.maskPath), FileManager.default.fileExists(atPath: job.rlePath) {
                    job.finished = finished
                    job.tilesDone = record.tiles ?? 0
                    job.end(.finished, at: ended)
                } else {
                    job.note = "its mask is gone from \(job.directory)"
                    job.end(.failed, at: ended)
                }
            case SlideJob.State.failed.rawValue:
                job.note = record.note
                job.end(.failed, at: ended)
            case SlideJob.State.uploading.rawValue:
                if job.openUploadFile() {
                    job.note = "upload starts over when its client attaches"
                } else {
                    job.note = "cannot create \(job.slidePath)"
                    job.end(.failed)
                }
            default:
                job.state = .queued
                again += 1
            }
            if job.state != SlideJob.State(rawValue: record.state) || (record.ended == nil && job.ended != nil) { persist(job) }
        }
        if !records.isEmpty {
            log.info("took back \(records.count) job(s) from \(journal.directory); \(again) to run again")
        }
    }

    // MARK: Clients

    private func handleClient(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else { return dropped("a client message without routing id") }
        let identity = frames[0]
        let opened = WireCodec.open(Array(frames.dropFirst()))
        guard case .success(let (kind, body)) = opened else {
            // Every message a client sends and the coordinator cannot act on is answered
            // with `error` (in the client's own framing when it speaks another version).
            if !answerOtherVersion(clientSocket, identity, Array(frames.dropFirst()), asking: [.submit, .attach, .statusRequest], answer: .error),
               case .failure(let error) = opened {
                replyError(identity, "malformed message: \(error)")
            }
            return
        }
        switch kind {
        case .submit:
            guard case .success(let submit) = WireCodec.decode(Wire.Submit.self, body[0]) else { return replyError(identity, "malformed submit") }
            submitJob(identity, submit)
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]) else { return replyError(identity, "malformed chunk") }
            receiveChunk(identity, chunk, body[1])
        case .fetch:
            guard case .success(let fetch) = WireCodec.decode(Wire.Fetch.self, body[0]) else { return replyError(identity, "malformed fetch") }
            serveFetch(identity, fetch)
        case .attach:
            guard case .success(let attach) = WireCodec.decode(Wire.Attach.self, body[0]) else { return replyError(identity, "malformed attach") }
            guard let job = job(attach.job) else {
                return replyError(identity, attach.job < nextJobID
                    ? "job \(attach.job) was removed: results are kept \(Int(config.keepResults)) s after a job ends (keep_results)"
                    : "no job \(attach.job) on this coordinator")
            }
            job.client = identity
            send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: job.id, upload: job.state == .uploading)))
            send(clientSocket, identity, WireCodec.frames(.progress, job.progress(memberNames: memberNames)))
            if let finished = job.finished { send(clientSocket, identity, WireCodec.frames(.finished, finished)) }
            if job.state == .failed { send(clientSocket, identity, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: job.note ?? "failed"))) }
            if job.state == .uploading {
                job.outstandingFetches.removeAll()
                job.lastUploadActivity = Date()
                requestChunks(job)
            }
        case .statusRequest:
            send(clientSocket, identity, WireCodec.frames(.statusReply, status()))
        default:
            replyError(identity, "unexpected \(kind) on the client socket")
        }
    }

    private func submitJob(_ identity: [UInt8], _ submit: Wire.Submit) {
        if let refusal = tileRefusals.sorted(by: { $0.key < $1.key }).first?.value {
            return replyError(identity, "cannot segment: \(refusal)")
        }
        let id = nextJobID
        nextJobID += 1
        let directory = journal.folder(of: id)
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            return replyError(identity, "cannot create \(directory): \(error.localizedDescription)")
        }
        // Read the slide in place when this machine sees the same file at that path.
        let local = FileDigest.isRegularFile(submit.path)
            && ((try? FileDigest.sampled(submit.path)).map { $0.size == submit.size && $0.digest == submit.digest.lowercased() } ?? false)
        let name = String(submit.name.prefix(200))
        let job = SlideJob(id: id, name: name, client: identity, directory: directory,
                           slidePath: local ? submit.path : directory + "/slide.tiff", size: submit.size, digest: submit.digest.lowercased(),
                           upload: !local, members: config.members.count)
        jobs.append(job)
        persist(job)
        log.info("job \(id) (\(name)) submitted; \(local ? "reading the slide in place" : "fetching \(submit.size) bytes")")
        send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: id, upload: !local)))
        if !local {
            guard job.openUploadFile() else { return fail(job, "cannot create \(job.slidePath)") }
            requestChunks(job)
        }
    }

    /// Keeps a few fetches outstanding: the client sends a chunk per fetch (credit-based
    /// flow control, as in the ZeroMQ guide's file transfer).
    private func requestChunks(_ job: SlideJob) {
        let chunk = UInt64(ClusterSockets.chunkBytes)
        while job.outstandingFetches.count < 4 && job.nextFetchOffset < job.slideSize {
            let size = min(chunk, job.slideSize - job.nextFetchOffset)
            send(clientSocket, job.client, WireCodec.frames(.fetch, Wire.Fetch(job: job.id, content: .slide, offset: job.nextFetchOffset, size: size)))
            job.outstandingFetches.insert(job.nextFetchOffset)
            job.nextFetchOffset += size
        }
        // Re-ask for chunks that never came (after an attach).
        if job.outstandingFetches.isEmpty && job.receivedBytes < job.slideSize { job.nextFetchOffset = job.receivedBytes }
    }

    private func receiveChunk(_ identity: [UInt8], _ chunk: Wire.Chunk, _ bytes: [UInt8]) {
        guard let job = job(chunk.job), job.state == .uploading, chunk.content == .slide,
              job.outstandingFetches.contains(chunk.offset), let handle = job.uploadHandle else {
            return // not asked for: late, after an attach or a restart
        }
        let expected = min(UInt64(ClusterSockets.chunkBytes), job.slideSize - chunk.offset)
        guard UInt64(bytes.count) == expected else { return fail(job, "a chunk at \(chunk.offset) held \(bytes.count) bytes, not \(expected)") }
        do {
            try handle.seek(toOffset: chunk.offset)
            try handle.write(contentsOf: Data(bytes))
        } catch {
            return fail(job, "cannot store the slide: \(error.localizedDescription)")
        }
        job.outstandingFetches.remove(chunk.offset)
        job.receivedBytes += UInt64(bytes.count)
        job.lastUploadActivity = Date()
        if job.receivedBytes == job.slideSize {
            try? handle.close()
            job.uploadHandle = nil
            let digest = try? FileDigest.sampled(job.slidePath)
            guard digest?.digest == job.slideDigest else { return fail(job, "the uploaded slide's digest does not match the client's") }
            job.state = .queued
            job.note = nil
            persist(job)
            log.info("job \(job.id): slide received (\(job.slideSize) bytes)")
        } else {
            requestChunks(job)
        }
    }

    private func checkUploads(_ now: Date) {
        for job in jobs where job.state == .uploading && now.timeIntervalSince(job.lastUploadActivity) > config.uploadTimeout {
            fail(job, "no bytes of the upload came for \(Int(config.uploadTimeout)) s (upload_timeout)")
        }
    }

    private func serveFetch(_ identity: [UInt8], _ fetch: Wire.Fetch) {
        guard let job = job(fetch.job), let finished = job.finished else { return replyError(identity, "job \(fetch.job) has no result to fetch") }
        let (path, total) = fetch.content == .mask ? (job.maskPath, finished.maskBytes) : (job.rlePath, finished.rleBytes)
        guard fetch.content != .slide, fetch.offset <= total, fetch.size <= UInt64(ClusterSockets.chunkBytes) else {
            return replyError(identity, "fetch outside the \(fetch.content.rawValue)")
        }
        let size = min(fetch.size, total - fetch.offset)
        job.lastFetch = Date()
        guard let handle = FileHandle(forReadingAtPath: path) else { return replyError(identity, "the \(fetch.content.rawValue) of job \(job.id) is gone") }
        defer { try? handle.close() }
        let data = (try? handle.seek(toOffset: fetch.offset)).flatMap { _ in try? handle.read(upToCount: Int(size)) } ?? Data()
        send(clientSocket, identity, WireCodec.frames(.chunk, Wire.Chunk(job: job.id, content: fetch.content, offset: fetch.offset), payload: [UInt8](data)))
    }

    /// A peer of another protocol version that sends one of the kinds `asking` (a worker
    /// registering, a client submitting) is answered with `answer` and the reason, framed in
    /// its version, so it stops with a clear message instead of retrying unanswered.
    /// Returns whether it answered.
    @discardableResult
    private func answerOtherVersion(_ socket: ZMQSocket, _ identity: [UInt8], _ message: [[UInt8]], asking: [WireKind], answer: WireKind) -> Bool {
        guard let first = message.first, let peer = WireHeader.otherVersion(first), asking.contains(where: { $0.rawValue == peer.kind }),
              let reason = try? JSONEncoder().encode(Wire.Reason("protocol version \(peer.version) is not this coordinator's \(WireHeader.version): run the same Tessera release everywhere")) else { return false }
        dropped("a \(socket === clientSocket ? "client" : "worker") of protocol version \(peer.version)")
        send(socket, identity, [WireHeader.frame(answer, version: peer.version), [UInt8](reason)])
        return true
    }

    private func replyError(_ identity: [UInt8], _ reason: String) {
        dropped(reason)
        send(clientSocket, identity, WireCodec.frames(.error, Wire.Reason(reason)))
    }

    // MARK: Status

    private func status() -> Wire.Status {
        let now = Date()
        let workers = registry.workers.values.sorted { $0.name < $1.name }.map { worker in
            Wire.Status.Worker(name: worker.name, member: memberNames[worker.member], state: worker.inFlight.isEmpty ? "idle" : "busy",
                               tilesPerSecond: Double(worker.tilesDone) / max(1, now.timeIntervalSince(worker.joined)),
                               inFlight: worker.inFlight.count, tilesDone: worker.tilesDone,
                               kernels: worker.kernels.isEmpty ? nil : worker.kernels)
        }
        let jobs = self.jobs.map { Wire.Status.Job(job: $0.id, name: $0.name, state: $0.state.rawValue, tilesDone: $0.tilesDone, tilesTotal: $0.tilesTotal, note: $0.note) }
        return Wire.Status(workers: workers, jobs: jobs)
    }

    private func metrics() -> String {
        var lines = ["# TYPE tessera_workers gauge"]
        for (index, name) in memberNames.enumerated() { lines.append("tessera_workers{member=\"\(name)\"} \(registry.count(of: index))") }
        lines.append("# TYPE tessera_jobs gauge")
        for state in ["uploading", "queued", "running", "finalizing", "finished", "failed"] {
            lines.append("tessera_jobs{state=\"\(state)\"} \(jobs.filter { $0.state.rawValue == state }.count)")
        }
        lines.append("# TYPE tessera_tiles_done_total counter")
        lines.append("tessera_tiles_done_total \(tilesDoneOfRemovedJobs + jobs.map(\.tilesDone).reduce(0, +))")
        lines.append("# TYPE tessera_dropped_messages_total counter")
        lines.append("tessera_dropped_messages_total \(droppedMessages)")
        // By thread: this one ("sockets"), the job threads as they account for themselves,
        // and the rest of the process (libzmq's I/O thread above all).
        var threads = ThreadCPU.shared.totals
        threads["sockets"] = ThreadCPU.current() - runStartCPU
        if let process = CPUTime.seconds() { threads["libzmq and other"] = max(0, process - threads.values.reduce(0, +)) }
        lines.append("# TYPE tessera_cpu_seconds_total counter")
        for (thread, seconds) in threads.sorted(by: { $0.key < $1.key }) {
            lines.append("tessera_cpu_seconds_total{thread=\"\(thread)\"} \(String(format: "%.6f", seconds))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// This thread's CPU seconds when `run` began.
    private var runStartCPU = 0.0

    // MARK: I/O

    /// Sends without blocking; a peer that is gone or full misses the message.
    private func send(_ socket: ZMQSocket, _ identity: [UInt8], _ frames: [[UInt8]]) {
        _ = sent(socket, identity, frames)
    }

    /// Sends without blocking; false when the peer is gone or its queue is full.
    private func sent(_ socket: ZMQSocket, _ identity: [UInt8], _ frames: [[UInt8]]) -> Bool {
        do {
            try socket.send([identity] + frames, dontWait: true)
            return true
        } catch {
            return false
        }
    }

    private func dropped(_ reason: String) {
        droppedMessages += 1
        if droppedMessages <= 100 || droppedMessages % 1000 == 0 { log.warning("dropped: \(reason)") }
    }
}
