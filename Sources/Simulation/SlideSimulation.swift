import Coordinator
import Foundation
import Tiling

/// A slide job on a simulated cluster, from one seed: the coordinator's `TileScheduler` —
/// the code the coordinator runs — sends tiles to workers over a simulated network, with
/// workers killed, taken for dead while healthy (their late results still coming), and
/// reconnecting under new routing ids. Invariants: every (tile, member) is accepted exactly
/// once, so the blended mask is `infer`'s (blending sums integers: order never matters);
/// the job ends within a bound once faults stop.
public final class SlideSimulation {
    public struct Options: Sendable {
        public var rows = 6, columns = 6
        public var members = 2
        public var workersPerMember = 2
        public var credit = 2
        public var faultsUntil = 20.0
        public var settle = 120.0
        public init() {}
    }

    enum Event {
        case tile(worker: Int, identity: [UInt8], request: UInt64, tile: TileIndex)
        case result(identity: [UInt8], request: UInt64, tile: TileIndex)
        case fault, tick
        case lose(identity: [UInt8])
    }

    final class SimWorker {
        let member: Int
        var identity: [UInt8]
        var alive = true
        var connections = 0
        var busyUntil = 0.0
        init(member: Int, identity: [UInt8]) { self.member = member; self.identity = identity }
    }

    let options: Options
    let seed: UInt64
    var world: SimulationWorld
    var events: [Event] = []
    var scheduler: TileScheduler
    var workers: [SimWorker] = []
    var accepted: [String: Int] = [:]
    var violation: String?
    let epoch = Date(timeIntervalSinceReferenceDate: 0)

    public init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        world = SimulationWorld(seed: seed)
        scheduler = TileScheduler(
            members: options.members, credit: options.credit, pinnedDigests: [:], interval: 1, liveness: 3,
            memberDeadline: 3600)
    }

    public static func run(seed: UInt64, options: Options = Options()) -> SimulationOutcome {
        SlideSimulation(seed: seed, options: options).run()
    }

    func date() -> Date { epoch.addingTimeInterval(world.now) }

    func schedule(_ event: Event, at time: Double) {
        events.append(event)
        world.schedule(events.count - 1, at: time)
    }

    func connect(_ worker: SimWorker) {
        worker.connections += 1
        worker.identity = Array("w\(workers.firstIndex { $0 === worker }!).\(worker.connections)".utf8)
        _ = scheduler.register(
            identity: worker.identity, name: String(decoding: worker.identity, as: UTF8.self), member: worker.member,
            digest: "", threads: 1, kernels: "", now: date())
    }

    public func run() -> SimulationOutcome {
        for member in 0..<options.members {
            for _ in 0..<options.workersPerMember {
                let worker = SimWorker(member: member, identity: [])
                workers.append(worker)
                connect(worker)
            }
        }
        for row in 0..<options.rows {
            for column in 0..<options.columns {
                scheduler.enqueue(job: 1, tile: TileIndex(row: row, column: column), pixels: [UInt8(truncatingIfNeeded: row * 31 + column)])
            }
        }
        var time = world.uniform(0.1...3)
        while time < options.faultsUntil { schedule(.fault, at: time); time += world.uniform(0.2...4) }
        schedule(.tick, at: 0)
        let total = options.rows * options.columns * options.members
        var count = 0
        while violation == nil, accepted.count < total, let index = world.next() {
            count += 1
            handle(events[index])
            if world.now > options.faultsUntil + options.settle { violation = "the job did not end within \(Int(options.settle)) s of the last fault" }
        }
        if violation == nil && accepted.count < total { violation = "the simulation ran out of events with \(accepted.count) of \(total) tiles" }
        return SimulationOutcome(
            seed: seed, violation: violation, ending: accepted.count == total ? "finished" : "running", events: count,
            simulatedSeconds: world.now, trace: world.trace)
    }

    func handle(_ event: Event) {
        switch event {
        case .tick:
            // The coordinator's loop: tiles lost with a worker are read again, then sent.
            for (job, tile) in scheduler.tilesToRead() {
                scheduler.supply(job: job, tile: tile, pixels: [UInt8(truncatingIfNeeded: tile.row * 31 + tile.column)])
            }
            while let next = scheduler.nextDispatch(at: date()) {
                guard let index = workers.firstIndex(where: { $0.identity == next.worker }) else { continue }
                schedule(.tile(worker: index, identity: next.worker, request: next.request, tile: next.task.tile), at: world.now + world.delay())
            }
            schedule(.tick, at: world.now + 0.02)
        case .tile(let index, let identity, let request, let tile):
            let worker = workers[index]
            guard worker.alive, worker.identity == identity else { return }
            let done = max(world.now, worker.busyUntil) + world.uniform(0.01...0.3)
            worker.busyUntil = done
            // A healthy worker answers on the connection it got the tile on, even if the
            // coordinator has counted it gone meanwhile.
            schedule(.result(identity: identity, request: request, tile: tile), at: done + world.delay())
        case .result(let identity, let request, let tile):
            guard let assignment = scheduler.complete(request, by: identity) else { return }  // late or stray
            guard assignment.tile == tile else { return fail("request \(request) answered for another tile") }
            let key = "\(tile.row),\(tile.column)/\(assignment.member)"
            accepted[key, default: 0] += 1
            if accepted[key]! > 1 { fail("tile \(key) accepted twice") }
        case .lose(let identity):
            let requeued = scheduler.lose(identity)
            if requeued > 0 { world.note("lost \(String(decoding: identity, as: UTF8.self)) with \(requeued) tiles") }
        case .fault:
            let live = workers.filter(\.alive)
            guard !live.isEmpty else { return }
            let worker = live[world.pick(live.count)]
            switch world.pick(3) {
            case 0:
                // kill -9, and a new process of the same member later.
                guard live.filter({ $0.member == worker.member }).count > 1 else { return }
                worker.alive = false
                schedule(.lose(identity: worker.identity), at: world.now + world.uniform(0.5...3))
                let replacement = SimWorker(member: worker.member, identity: [])
                workers.append(replacement)
                connect(replacement)
            case 1:
                // A busy machine: a healthy worker counted gone, which registers again at once.
                world.note("\(String(decoding: worker.identity, as: UTF8.self)) taken for dead")
                let requeued = scheduler.lose(worker.identity)
                if requeued > 0 { world.note("lost it with \(requeued) tiles") }
                _ = scheduler.register(
                    identity: worker.identity, name: "again", member: worker.member, digest: "", threads: 1, kernels: "",
                    now: date())
            default:
                // Reconnecting under a new routing id; the old one falls silent.
                let old = worker.identity
                connect(worker)
                schedule(.lose(identity: old), at: world.now + world.uniform(0.5...3))
            }
        }
    }

    func fail(_ text: String) {
        if violation == nil { violation = text; world.note("VIOLATION: " + text) }
    }
}
