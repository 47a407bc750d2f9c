import Core
import Engine
import Foundation
import Members
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
    private let log: Log
    /// What this worker tells the coordinator when it registers.
    private let registration: Wire.Register
    /// Where its ring socket binds when it trains (`--ring-bind`).
    private let ringBind: String

    /// Loads the member named `memberName`; fails (before any connection) when the member
    /// is unknown or its model or weights cannot be loaded. `threads` is what a tile is
    /// computed with, announced when registering.
    public init(config: ClusterConfig, memberName: String, endpoint: String? = nil, threads: Int, ringBind: String = "tcp://127.0.0.1:*") throws {
        self.config = config
        self.ringBind = ringBind
        member = try config.member(named: memberName)
        self.endpoint = endpoint ?? config.workerEndpoint
        predictor = try MemberFactory.make(member)
        // A member at its own pixel size resamples every tile to a side it takes.
        if member.pixelSize == nil { try predictor.check(tileSize: config.settings.tileSize) }
        let digest = try member.weights.map(FileDigest.full) ?? ""
        if let pinned = member.digest, pinned.lowercased() != digest {
            throw TesseraError(
                member.weights ?? member.name, "weights digest \(digest) differs from the \(pinned) that \(config.source) pins for member \(member.name)",
                code: .mismatch)
        }
        let host = ProcessInfo.processInfo.hostName
        let name = "\(member.name)@\(host):\(getpid())"
        log = Log("worker \(name)", metadata: ["worker": name, "member": member.name])
        if let warning = MemberFactory.undeclaredPixelSize(member) { log.warning(warning) }
        if let warning = MemberFactory.untrainedWarning(member) { log.warning(warning) }
        registration = Wire.Register(
            protocolVersion: Int(WireHeader.version), member: member.name, architecture: member.architecture, weightsDigest: digest,
            threads: threads, name: name,
            tileSides: member.pixelSize == nil
                ? Wire.TileSides(of: predictor, maximum: config.settings.tileSize)
                : Wire.TileSides(multiple: 1, minimum: min(WireLimits.tileSide.lowerBound, config.settings.tileSize), maximum: config.settings.tileSize),
            kernels: KernelSet.summary, pixelSize: member.pixelSize, stain: member.stain)
    }

    /// Serves until SIGINT/SIGTERM; throws when the coordinator refuses this worker.
    public func run() throws {
        let context = try ZMQContext()
        let compute = try ComputeThread(context: context, predictor: predictor, member: member, log: log)
        defer { compute.stop() }
        let training = try TrainingHost(context: context, ringBind: ringBind, security: config.security, log: log)
        defer { training.stop() }
        try serve(context: context, compute: compute, training: training)
    }

    /// Moves bytes between the socket, the compute thread and `WorkerLink`, which decides.
    private func serve(context: ZMQContext, compute: ComputeThread, training: TrainingHost) throws {
        let maxIncoming = ClusterSockets.maxCoordinatorMessage(config)
        var link = WorkerLink(
            registration: registration, maxTileSize: config.settings.tileSize,
            interval: config.heartbeatInterval, liveness: config.heartbeatLiveness, now: Date())
        log.info("connecting to \(endpoint)")
        var socket = try connect(context, maxIncoming)
        var actions = link.reconnected(at: Date())
        while !StopSignal.requested {
            while !actions.isEmpty {
                switch actions.removeFirst() {
                case .send(let frames): offer(frames, on: socket)
                case .compute(let request, let pixels, let ticket): compute.submit(request, pixels: pixels, ticket: ticket)
                case .dropped(let reason): log.warning("dropped a message from the coordinator: \(reason)")
                case .note(let text): log.info(text)
                case .train(let command): training.submit(command)
                case .stop(let reason): throw TesseraError("coordinator", "refused this worker: \(reason)", code: .refused)
                case .reconnect(let wait):
                    let until = Date().addingTimeInterval(wait)
                    while Date() < until && !StopSignal.requested { usleep(50_000) }
                    socket = try connect(context, maxIncoming)
                    actions = link.reconnected(at: Date())
                }
            }
            let ready = try ZMQPoller.pollIn([socket, compute.doorbell, training.doorbell], timeoutMilliseconds: 50)
            if ready[0], let frames = try socket.receive(dontWait: true) {
                actions += link.received(frames, at: Date())
            }
            if ready[1] {
                // A result that cannot go now is lost; the coordinator gives its tile to
                // another worker once it counts this one gone.
                let results = compute.takeResults()
                for result in results { offer(result.frames, on: socket) }
                link.answered(results.map(\.ticket), at: Date())
            }
            if ready[2] { for message in training.takeMessages() { offer(message, on: socket) } }
            actions += link.tick(at: Date(), inTraining: training.run != nil)
        }
        if let goodbye = link.goodbye { offer(goodbye, on: socket) }
        log.info("stopped")
    }

    /// Sends without ever blocking: with no live connection a DEALER would block forever,
    /// and this thread must keep its heartbeat and reconnection going.
    private func offer(_ frames: [[UInt8]], on socket: ZMQSocket) {
        do { try socket.send(frames, dontWait: true) } catch {
            log.debug("could not send now: \(error)")
        }
    }

    /// A DEALER with a fresh routing id (`w-` and a UUID), set before it connects.
    private func connect(_ context: ZMQContext, _ maxIncoming: Int64) throws -> ZMQSocket {
        try ClusterSockets.dealer(
            context, config: config, endpoint: endpoint, role: .worker, maxMessage: maxIncoming,
            routingID: Array("w-\(UUID().uuidString.lowercased())".utf8))
    }
}
