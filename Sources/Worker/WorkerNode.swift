import Engine
import Foundation
import Shared
import ZeroMQ

/// A worker process: hosts one ensemble member and predicts the tiles the coordinator
/// sends it (docs/PROTOCOL.md, worker link).
///
/// Two threads: the I/O thread owns the DEALER socket — registration, heartbeats,
/// reconnection with back-off — and never blocks on the model; the `ComputeThread` runs
/// the model on the tiles it is handed. A long prediction therefore never silences the
/// heartbeat.
public final class WorkerNode {
    public let config: ClusterConfig
    public let member: ClusterConfig.Member
    public let endpoint: String
    private let predictor: TilePredictor
    private let digest: String
    private let log: Log
    private let name: String

    /// Loads the member named `memberName`; fails (before any connection) when the member
    /// is unknown or its model or weights cannot be loaded.
    public init(config: ClusterConfig, memberName: String, endpoint: String? = nil) throws {
        self.config = config
        member = try config.member(named: memberName)
        self.endpoint = endpoint ?? config.workerEndpoint
        predictor = try MemberFactory.make(member)
        try predictor.check(tileSize: config.settings.tileSize)
        digest = try member.weights.map(FileDigest.full) ?? ""
        if let pinned = member.digest, pinned != digest {
            throw TesseraError(member.weights ?? member.name, "weights digest \(digest) differs from the \(pinned) that \(config.source) pins for member \(member.name)")
        }
        let host = ProcessInfo.processInfo.hostName
        name = "\(member.name)@\(host):\(getpid())"
        log = Log("worker \(name)")
    }

    /// Serves until SIGINT/SIGTERM; throws when the coordinator refuses this worker.
    public func run() throws {
        let context = try ZMQContext()
        let compute = try ComputeThread(context: context, predictor: predictor, log: log)
        defer { compute.stop() }
        try serve(context: context, compute: compute)
    }

    private func serve(context: ZMQContext, compute: ComputeThread) throws {
        let maxIncoming = Int64(config.settings.tileSize * config.settings.tileSize * 3 + 4096)
        var interval = config.heartbeatInterval
        var liveness = config.heartbeatLiveness
        var backoff = 1.0
        var socket = try connect(context, maxIncoming)
        var lastHeard = Date()
        var lastSent = Date()
        var registered = false
        log.info("connecting to \(endpoint)")
        while !StopSignal.requested {
            let ready = try ZMQPoller.pollIn([socket, compute.doorbell], timeoutMilliseconds: 50)
            if ready[0], let frames = try socket.receive(dontWait: true) {
                switch WireCodec.open(frames) {
                case .failure(let error):
                    log.warning("dropped a message from the coordinator: \(error)")
                case .success(let (kind, body)):
                    lastHeard = Date()
                    switch kind {
                    case .welcome:
                        if case .success(let welcome) = WireCodec.decode(Wire.Welcome.self, body[0]) {
                            interval = Double(welcome.heartbeatMilliseconds) / 1000
                            liveness = welcome.liveness
                            registered = true
                            backoff = 1
                            log.info("registered with the coordinator (credit \(welcome.credit))")
                        }
                    case .refuse:
                        let reason = (try? WireCodec.decode(Wire.Reason.self, body[0]).get().reason) ?? "no reason given"
                        throw TesseraError("coordinator", "refused this worker: \(reason)")
                    case .registerAgain:
                        registered = false
                        offer(registerFrames(), on: socket)
                        lastSent = Date()
                    case .heartbeat:
                        break
                    case .tile:
                        // Checked here so the compute thread only sees well-formed tiles.
                        switch WireCodec.tile(body, maxSize: config.settings.tileSize) {
                        case .failure(let error): log.warning("dropped a tile: \(error)")
                        case .success(let (request, pixels)): compute.submit(request, pixels: pixels)
                        }
                    default:
                        log.warning("dropped an unexpected \(kind) message")
                    }
                }
            }
            if ready[1] {
                // A result that cannot go now is lost; the coordinator gives its tile to
                // another worker once it counts this one gone.
                for frames in compute.takeResults() { offer(frames, on: socket) }
                lastSent = Date()
            }
            let now = Date()
            if now.timeIntervalSince(lastSent) >= interval {
                offer(registered ? WireCodec.frames(.heartbeat) : registerFrames(), on: socket)
                lastSent = now
            }
            if now.timeIntervalSince(lastHeard) > interval * Double(liveness) {
                log.warning("no word from the coordinator for \(String(format: "%.1f", now.timeIntervalSince(lastHeard))) s; reconnecting in \(Int(backoff)) s")
                let until = Date().addingTimeInterval(backoff)
                while Date() < until && !StopSignal.requested { usleep(50_000) }
                backoff = min(backoff * 2, 32)
                socket = try connect(context, maxIncoming)
                registered = false
                lastHeard = Date()
                lastSent = Date()
            }
        }
        if registered { offer(WireCodec.frames(.goodbye), on: socket) }
        log.info("stopped")
    }

    /// Sends without ever blocking: with no live connection a DEALER would block forever,
    /// and this thread must keep its heartbeat and reconnection going.
    private func offer(_ frames: [[UInt8]], on socket: ZMQSocket) {
        do { try socket.send(frames, dontWait: true) } catch {
            log.debug("could not send now: \(error)")
        }
    }

    private func connect(_ context: ZMQContext, _ maxIncoming: Int64) throws -> ZMQSocket {
        let socket = try ClusterSockets.dealer(context, config: config, endpoint: endpoint, role: .worker, maxMessage: maxIncoming)
        try socket.setRoutingID(Array("w-\(UUID().uuidString)".utf8))
        offer(registerFrames(), on: socket)
        return socket
    }

    private func registerFrames() -> [[UInt8]] {
        WireCodec.frames(.register, Wire.Register(
            protocolVersion: Int(WireHeader.version), member: member.name, architecture: member.architecture,
            weightsDigest: digest, threads: ProcessInfo.processInfo.activeProcessorCount, name: name, kernels: KernelSet.summary))
    }
}
