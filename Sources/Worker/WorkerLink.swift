import Core
import Foundation
import Shared

/// A worker's side of the worker link (docs/PROTOCOL.md) as a state machine: it takes what
/// the coordinator sent and the passing of time, and returns what to do — send, compute,
/// reconnect, stop. No sockets or threads, so every rule is unit-tested and fuzzed alone;
/// `WorkerNode` drives it.
///
/// It is total: no message, however malformed or hostile, makes it trap, stop (but a
/// well-formed `refuse`), allocate beyond the message, or give up its liveness guarantee —
/// a silent coordinator is noticed within `WireLimits`' largest interval × liveness.
public struct WorkerLink: Sendable {
    public enum Action: Equatable, Sendable {
        /// Frames to send to the coordinator.
        case send([[UInt8]])
        /// A well-formed tile, in the sides this member takes, to predict; call `answered`
        /// with its ticket once its result or failure has been sent.
        case compute(Wire.TileRequest, pixels: [UInt8], ticket: UInt64)
        /// Close the socket, wait this many seconds, connect afresh and call `reconnected`.
        case reconnect(after: Double)
        /// The coordinator refused this worker: stop with this reason.
        case stop(String)
        /// A message was dropped (logged and counted by the driver).
        case dropped(String)
        /// Something worth a line in the log.
        case note(String)
        /// A well-formed training message for the training thread (`TrainingHost`).
        case train(TrainingCommand)
    }

    /// What the coordinator asks of this worker's part in a training run (docs/PROTOCOL.md,
    /// "Training").
    public enum TrainingCommand: Equatable, Sendable {
        case join(Wire.TrainJoin)
        case step(Wire.TrainStep)
        case save(Wire.TrainSave)
        case load(Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8])
        case stop(Wire.TrainStop)
        /// The coordinator forgot this worker (it restarted, or lost it): leave any run.
        case abandon
    }

    /// The `register` body this worker sends.
    public let registration: Wire.Register
    /// The largest tile the worker's socket accepts (`maxIncoming`).
    public let maxTileSize: Int
    public private(set) var registered = false
    public private(set) var liveness: PeerLiveness
    /// Tickets of the tiles this registration handed to compute and not yet answered:
    /// what the credit counts. Each welcome starts afresh, since the coordinator then
    /// knows nothing of the tiles before (it restarted, or answered a second register).
    public private(set) var outstanding: Set<UInt64> = []
    /// Tiles handed to compute and not yet answered, of every registration: bounded, so
    /// that no sequence of registrations can make the queue grow without end.
    public private(set) var backlog = 0
    /// The most tiles the compute queue holds.
    public static let maxBacklog = 2 * WireLimits.credit.upperBound
    private var nextTicket: UInt64 = 1
    /// Heartbeats the coordinator may miss while this worker is in a training run (the welcome's).
    public private(set) var trainingLiveness: Int?
    /// How many tiles may be outstanding: the welcome's credit.
    public private(set) var credit: Int
    /// Seconds to wait before the next reconnection: 1, 2, 4 … 32.
    public private(set) var backoff = 1.0
    /// Messages dropped so far.
    public private(set) var dropped = 0

    public init(registration: Wire.Register, maxTileSize: Int, interval: Double, liveness: Int, now: Date) {
        self.registration = registration
        self.maxTileSize = maxTileSize
        self.liveness = PeerLiveness(interval: interval, liveness: liveness, now: now)
        credit = WireLimits.credit.upperBound
    }

    var registerFrames: [[UInt8]] { WireCodec.frames(.register, registration) }

    /// What to do on connecting (the first time or again): register.
    public mutating func reconnected(at now: Date) -> [Action] {
        registered = false
        outstanding = []
        liveness.restart(at: now)
        return [.train(.abandon), .send(registerFrames)]
    }

    /// What to do with a message from the coordinator.
    public mutating func received(_ frames: [[UInt8]], at now: Date) -> [Action] {
        let kind: WireKind, body: [[UInt8]]
        switch WireCodec.open(frames) {
        case .failure(let error): return drop("\(error)")
        case .success(let opened): (kind, body) = opened
        }
        switch kind {
        case .welcome:
            switch WireCodec.decode(Wire.Welcome.self, body[0]) {
            case .failure(let error): return drop("\(error)")
            case .success(let welcome):
                liveness.heard(at: now)
                liveness.retime(interval: Double(welcome.heartbeatMilliseconds) / 1000, liveness: welcome.liveness)
                credit = welcome.credit
                trainingLiveness = welcome.trainingLiveness
                // Every welcome starts a registration afresh: the coordinator has forgotten
                // (and given to others) the tiles it sent this worker before.
                outstanding = []
                let first = !registered
                registered = true
                backoff = 1
                return first ? [.note("registered with the coordinator (credit \(welcome.credit))")] : []
            }
        case .refuse:
            switch WireCodec.decode(Wire.Reason.self, body[0]) {
            case .failure(let error): return drop("\(error)")
            case .success(let refusal): return [.stop(refusal.reason)]
            }
        case .registerAgain:
            liveness.heard(at: now)
            registered = false
            liveness.sent(at: now)
            return [.train(.abandon), .send(registerFrames)]
        case .trainJoin, .trainStep, .trainSave, .trainState, .trainStop:
            let command: Result<TrainingCommand, WireError>
            switch kind {
            case .trainJoin: command = WireCodec.decode(Wire.TrainJoin.self, body[0]).map { .join($0) }
            case .trainStep: command = WireCodec.decode(Wire.TrainStep.self, body[0]).map { .step($0) }
            case .trainSave: command = WireCodec.decode(Wire.TrainSave.self, body[0]).map { .save($0) }
            case .trainStop: command = WireCodec.decode(Wire.TrainStop.self, body[0]).map { .stop($0) }
            default: command = WireCodec.trainState(body).map { .load($0.0, weights: $0.weights, optimizer: $0.optimizer) }
            }
            switch command {
            case .failure(let error): return drop("\(kind): \(error)")
            case .success(let command):
                guard registered else { return drop("\(kind) before the coordinator welcomed this worker") }
                liveness.heard(at: now)
                return [.train(command)]
            }
        case .heartbeat:
            liveness.heard(at: now)
            return []
        case .tile:
            switch WireCodec.tile(body, maxSize: maxTileSize) {
            case .failure(let error): return drop("tile: \(error)")
            case .success(let (request, pixels)):
                liveness.heard(at: now)
                if let reason = refusal(of: request) {
                    liveness.sent(at: now)
                    return [
                        .note("refused tile (\(request.row), \(request.column)) of job \(request.job): \(reason)"),
                        .send(WireCodec.frames(.tileFailed, Wire.TileFailure(job: request.job, request: request.request, reason: reason))),
                    ]
                }
                let ticket = nextTicket
                nextTicket += 1
                outstanding.insert(ticket)
                backlog += 1
                return [.compute(request, pixels: pixels, ticket: ticket)]
            }
        default:
            return drop("an unexpected \(kind) message")
        }
    }

    /// Why this worker will not compute `request`, or nil.
    private func refusal(of request: Wire.TileRequest) -> String? {
        guard registered else { return "this worker is not registered" }
        guard registration.tileSides.accepts(Int(request.size)) else {
            return "member \(registration.member) (\(registration.architecture)) takes \(registration.tileSides), not \(request.size)"
        }
        guard outstanding.count < credit else { return "\(outstanding.count) tiles are outstanding already, the credit of \(credit) is spent" }
        guard backlog < Self.maxBacklog else { return "\(backlog) tiles wait to be computed already" }
        return nil
    }

    /// The tiles of these tickets were answered (results or failures sent).
    public mutating func answered(_ tickets: [UInt64], at now: Date) {
        for ticket in tickets { outstanding.remove(ticket) }
        backlog = max(0, backlog - tickets.count)
        liveness.sent(at: now)
    }

    /// What the passing of time calls for: a heartbeat (or a repeated register), or a
    /// reconnection when the coordinator has been silent too long (`inTraining`: for the
    /// training window).
    public mutating func tick(at now: Date, inTraining: Bool = false) -> [Action] {
        if liveness.peerSilent(at: now, window: inTraining ? trainingLiveness : nil) {
            let wait = backoff
            backoff = min(backoff * 2, 32)
            return [
                .note("no word from the coordinator for \(String(format: "%.1f", liveness.silence(at: now))) s; reconnecting in \(Int(wait)) s"),
                .reconnect(after: wait),
            ]
        }
        guard liveness.heartbeatDue(at: now) else { return [] }
        liveness.sent(at: now)
        return [.send(registered ? WireCodec.frames(.heartbeat) : registerFrames)]
    }

    /// Frames to send when stopping cleanly.
    public var goodbye: [[UInt8]]? { registered ? WireCodec.frames(.goodbye) : nil }

    private mutating func drop(_ reason: String) -> [Action] {
        dropped += 1
        return [.dropped(reason)]
    }
}
