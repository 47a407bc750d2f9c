import Core
import Foundation
import Shared
import ZeroMQ

/// The coordinator process: accepts workers and clients, runs jobs FIFO, shards tiles to
/// the workers of every member, blends their maps and hands back masks
/// (docs/PROTOCOL.md). One thread polls every socket; every send to a peer is
/// non-blocking, so no slow peer holds the others up.
public final class CoordinatorServer {
    public let config: ClusterConfig
    let log: Log
    let memberNames: [String]

    var context: ZMQContext!
    var workerSocket: ZMQSocket!
    var clientSocket: ZMQSocket!
    var metricsSocket: ZMQSocket?
    var zap: ZAPAuthenticator?

    /// Which worker predicts which tile: every scheduling decision.
    var scheduler: TileScheduler
    var registry: WorkerRegistry { scheduler.registry }
    var jobs: [SlideJob] = []
    var trainingJobs: [TrainingJob] = []
    /// Writes training checkpoints off this thread.
    let checkpoints = CheckpointWriter()
    /// Opens slide jobs off this thread.
    let opener = JobOpener()
    var journal: JobJournal!
    var nextJobID: UInt64 = 1

    var clock = PhaseClock()
    var lastProgress = Date.distantPast
    var lastPrune = Date.distantPast
    /// Counters, gauges and histograms (Prometheus text on the metrics socket and /metrics).
    let meter = CoordinatorMetrics()
    /// The status page's snapshot, published once a second.
    let board = StatusBoard()
    var lastPublished = Date.distantPast
    var droppedMessages = 0
    /// Why the last worker refused for each member could not take this cluster's tiles,
    /// until a worker of that member joins: while the member has no worker, submits are
    /// refused with it.
    var tileRefusals: [Int: String] = [:]
    /// The socket thread's CPU seconds when `run` began.
    var runStartCPU = 0.0
    /// Whether the running job has tiles to admit and room in its window.
    var admissionPending = false

    /// Called with each line a test or a supervisor may wait for ("ready ...").
    public var onReady: ((String) -> Void)?

    public init(config: ClusterConfig) throws {
        self.config = config
        log = Log("coordinator")
        memberNames = config.members.map(\.name)
        var pinned: [Int: String] = [:]
        for (index, member) in config.members.enumerated() { if let digest = member.digest { pinned[index] = digest } }
        scheduler = TileScheduler(
            members: config.members.count, credit: config.workerCredit, pinnedDigests: pinned,
            interval: config.heartbeatInterval, liveness: config.heartbeatLiveness, memberDeadline: config.memberDeadline,
            trainingLiveness: config.heartbeatTrainingLiveness)
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
        checkpoints.drain()
        log.info("stopping")
    }

    /// Takes back the journal's jobs and binds the sockets, in `context` when given (an
    /// in-process driver, such as the fuzzer, shares its context to reach inproc endpoints).
    package func open(context given: ZMQContext? = nil) throws {
        runStartCPU = ThreadCPU.current()
        journal = try JobJournal(directory: config.stateDirectory)
        restoreJobs()
        restoreTraining()
        context = try given ?? ZMQContext()
        if let security = config.security {
            zap = try ZAPAuthenticator(context: context, allowed: ["workers": security.workerPublic, "clients": security.clientPublic], log: log)
        }
        workerSocket = try ClusterSockets.coordinatorRouter(
            context, config: config, endpoint: config.workerEndpoint, domain: "workers",
            maxMessage: ClusterSockets.maxWorkerMessage(config))
        clientSocket = try ClusterSockets.coordinatorRouter(
            context, config: config, endpoint: config.clientEndpoint, domain: "clients",
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
    /// What other threads (the HTTP server's) may read, as of the last second.
    public var published: Published { Published(meter: meter, board: board) }

    public struct Published: Sendable {
        let meter: CoordinatorMetrics
        let board: StatusBoard
        /// The Prometheus text of every metric.
        public func metrics() -> String { meter.text() }
        /// The status page's JSON.
        public func status() -> [UInt8] { board.latest }
    }
    /// Ends every job still open, stopping the threads they hold (in-process drivers, which
    /// make many coordinators in one process).
    package func endJobs() {
        for job in jobs where job.state != .finished && job.state != .failed { job.end(.failed) }
    }

    func tick() {
        let now = Date()
        for identity in scheduler.silentWorkers(at: now) {
            let worker = registry.workers[identity]
            log.warning(
                "worker \(worker?.name ?? "?") missed \(worker?.training == nil ? config.heartbeatLiveness : config.heartbeatTrainingLiveness) heartbeats")
            lose(identity, because: "silent")
        }
        if scheduler.heartbeatsDue(at: now) {
            for identity in registry.workers.keys { send(workerSocket, identity, WireCodec.frames(.heartbeat)) }
        }
        trainingTick()
        startNextJob()
        admitTiles()
        dispatch()
        checkWaiting(now)
        checkUploads(now)
        checkStitchResults()
        if now.timeIntervalSince(lastPublished) >= 1 {
            publishStatus()
            lastPublished = now
        }
        if now.timeIntervalSince(lastPrune) >= 1 {
            removeExpiredJobs(now)
            lastPrune = now
        }
        if now.timeIntervalSince(lastProgress) >= 0.25 {
            for job in jobs where job.state != .finished && job.state != .failed {
                send(clientSocket, job.client, WireCodec.frames(.progress, job.progress(memberNames: memberNames)))
            }
            for job in trainingJobs where (job.state == .running || job.state == .queued) && !job.client.isEmpty {
                send(clientSocket, job.client, WireCodec.frames(.trainProgress, job.progress))
            }
            lastProgress = now
        }
    }

    var activeJob: SlideJob? { jobs.first { $0.state == .running } }

    // MARK: I/O

    /// Sends without blocking; a peer that is gone or full misses the message.
    func send(_ socket: ZMQSocket, _ identity: [UInt8], _ frames: [[UInt8]]) {
        _ = sent(socket, identity, frames)
    }

    /// Sends without blocking; false when the peer is gone or its queue is full.
    func sent(_ socket: ZMQSocket, _ identity: [UInt8], _ frames: [[UInt8]]) -> Bool {
        do {
            try socket.send([identity] + frames, dontWait: true)
            return true
        } catch {
            return false
        }
    }

    func dropped(_ reason: String) {
        droppedMessages += 1
        meter.messageDropped()
        if droppedMessages <= 100 || droppedMessages % 1000 == 0 { log.warning("dropped: \(reason)") }
    }
}
