import Core
import Foundation
import Shared
import Worker

/// Fuzzes a worker's handling of what the coordinator sends (`WorkerLink`): messages,
/// the passing of time and computed tiles, in any order. Beyond not trapping, it checks
/// the link's promises after every step: tiles reach the model only well-formed, within
/// the member's sides and the credit; only a well-formed `refuse` stops the worker; and a
/// coordinator silent for longer than `WireLimits` allows is always noticed.
enum WorkerLinkTarget {
    /// Channels: 0 a message from the coordinator; 1 time passes (milliseconds, the first
    /// frame's first four bytes); 2 computed tiles answered (the first frame's first byte).
    static let channels = 3

    static let registration = Wire.Register(
        protocolVersion: Int(WireHeader.version), member: "m", architecture: "effunet-b0", weightsDigest: "0123456789abcdef",
        threads: 1, name: "fuzz", tileSides: Wire.TileSides(multiple: 32, minimum: 32, maximum: 256))

    /// The longest a coordinator may keep a worker waiting: the largest interval × liveness.
    static let longestSilence = Double(WireLimits.heartbeatMilliseconds.upperBound) / 1000 * Double(WireLimits.liveness.upperBound)

    static func run(_ input: FuzzInput) {
        var now = Date(timeIntervalSince1970: 1_000_000)
        var link = WorkerLink(registration: registration, maxTileSize: 256, interval: 1, liveness: 3, now: now)
        _ = link.reconnected(at: now)
        var computing: [UInt64] = []
        for message in input.messages {
            var actions: [WorkerLink.Action]
            switch Int(message.channel) % channels {
            case 0:
                let before = link
                actions = link.received(message.frames, at: now)
                for action in actions {
                    check(action, after: message.frames, before: before)
                    if case .compute(_, _, let ticket) = action { computing.append(ticket) }
                }
            case 1:
                let bytes = message.frames[0] + [0, 0, 0, 0]
                let milliseconds = (0..<4).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
                let heardBefore = link.liveness.lastHeard
                now += Double(milliseconds) / 1000
                actions = link.tick(at: now)
                if now.timeIntervalSince(heardBefore) > longestSilence {
                    fuzzCheck(
                        actions.contains { if case .reconnect = $0 { true } else { false } },
                        "a coordinator silent for \(now.timeIntervalSince(heardBefore)) s was not noticed")
                }
            default:
                let count = min(computing.count, Int(message.frames[0].first ?? 1))
                link.answered(Array(computing.prefix(count)), at: now)
                computing.removeFirst(count)
                actions = []
            }
            if actions.contains(where: { if case .stop = $0 { true } else { false } }) { return }
            if actions.contains(where: { if case .reconnect = $0 { true } else { false } }) { _ = link.reconnected(at: now) }
        }
    }

    private static func check(_ action: WorkerLink.Action, after frames: [[UInt8]], before: WorkerLink) {
        switch action {
        case .compute(let request, let pixels, _):
            let side = Int(request.size)
            fuzzCheck(
                registration.tileSides.accepts(side) && pixels.count == side * side * 3 && 2 * Int(request.inset) < side,
                "a tile of side \(side) with \(pixels.count) bytes reached the model")
            fuzzCheck(
                before.outstanding.count < before.credit && before.backlog < WorkerLink.maxBacklog,
                "a tile reached the model past the credit or the backlog's bound")
        case .stop:
            let refusal = WireCodec.open(frames).flatMap { opened in
                opened.0 == .refuse ? WireCodec.decode(Wire.Reason.self, opened.1[0]) : .failure(WireError("not a refuse"))
            }
            fuzzCheck((try? refusal.get()) != nil, "the worker stopped on something other than a well-formed refuse")
        default:
            break
        }
    }
}
