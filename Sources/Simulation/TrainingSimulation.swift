import Coordinator
import Shared
import Worker

/// A data-parallel training run on a simulated cluster, from one seed (in the manner of
/// FoundationDB's simulator and TigerBeetle's VOPR): the coordinator's decisions
/// (`TrainingRunMachine`) and the workers' (`ReplicaRules`), exactly as the processes run
/// them, over a simulated network (delays, stalls, per-link order as ZeroMQ keeps it),
/// clock and disk (`CheckpointLayout`), with faults: `kill -9` of a worker or of the
/// coordinator at any moment, a coordinator restarted from its state folder, healthy
/// workers taken for dead (a busy machine) or reconnecting, a member 100× slower, workers
/// joining at any time. A step's numeric work is a hash of the state and the batch share,
/// so thousands of runs take seconds. Invariants are checked as the run goes (see
/// `violation` sites) and at its end.
public final class TrainingSimulation {
    /// Changes that reintroduce known faults, to show the simulator finds them.
    public enum Mutation: String, Sendable, CaseIterable {
        /// One checkpoint folder overwritten in place (the layout before `CheckpointLayout`).
        case singleCheckpointFolder
        /// A replica that redoes a step does not roll back first.
        case noRollBack
    }

    public struct Options: Sendable {
        public var steps = 10
        public var batch = 6
        public var checkpointEvery = 3
        public var minimumShare = 2
        public var workers = 3
        /// Faults happen until this simulated time; after it the run must end within `settle`.
        public var faultsUntil = 60.0
        public var settle = 600.0
        public var mutation: Mutation?
        public init() {}
    }

    // MARK: State

    final class SimWorker {
        let index: Int
        var alive = true
        var identity: String
        var connections = 0
        var slow = 1.0
        var wanted = ReplicaRules.Wanted()
        var commands: [(command: Command, generation: Int)] = []
        var busy = false
        var session: Session?
        /// The all-reduce this worker waits in, and its step message.
        var waiting: (key: String, step: Command.Step, since: Double)?
        init(index: Int) { self.index = index; identity = "w\(index).0" }
    }

    struct Session {
        let run: UInt64
        let generation: Int
        let endpoint: String
        var applied = 0, committed = 0
        var state: UInt64, committedState: UInt64
        var epoch = 0
    }

    enum Command {
        struct Step { let step: Int; let epoch: Int; let rank: Int; let ring: [String]; let share: Range<Int> }
        case join, step(Step), save(step: Int, model: Bool, epoch: Int), load(step: Int, state: UInt64), stop, abandon
    }

    /// What crosses the network, each tagged with the coordinator incarnation it belongs to.
    enum Message {
        case toWorker(worker: Int, identity: String, Command)
        case registerAgain(worker: Int, identity: String)
        case register(worker: Int, identity: String)
        case ready(identity: String, endpoint: String)
        case done(identity: String, step: Int, epoch: Int, digest: UInt64)
        case state(identity: String, step: Int, state: UInt64, model: Bool)
        case failed(identity: String, reason: String)
    }

    enum Event {
        case deliver(Message, incarnation: Int)
        case work(worker: Int)
        case finishStep(worker: Int, key: String)
        case checkpointFiles(step: Int, state: UInt64, incarnation: Int)
        case checkpointRecord(step: Int, incarnation: Int)
        case tick(incarnation: Int)
        case fault
        case restartCoordinator
        case lose(identity: String, incarnation: Int)
        case startWorker(Int)
    }

    let options: Options
    let seed: UInt64
    var world: SimulationWorld
    var events: [Event] = []
    var workers: [SimWorker] = []
    // The coordinator: nil while it is down.
    var machine: TrainingRunMachine?
    var incarnation = 0
    var registered: [String: Int] = [:]
    /// When the coordinator last heard each registered identity (heartbeats included).
    var lastHeard: [String: Double] = [:]
    /// Silence after which the coordinator counts a worker gone (interval × liveness).
    let silence = 3.0
    var refused: Set<Int> = []
    var linkClock: [String: Double] = [:]
    var ended: String?
    var violation: String?
    // The disk: checkpoint folders (the state hash each holds) and job.json.
    var folders: [String: UInt64] = [:]
    var recordStep = 0
    var recordRings: [(step: Int, epoch: Int, size: Int)] = []
    var sessions = 0
    /// All-reduces under way, by key: the members that entered (by rank), and their sums.
    var entered: [String: [Int: (worker: Int, state: UInt64, share: Range<Int>)]] = [:]
    var sums: [String: UInt64] = [:]

    public init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        world = SimulationWorld(seed: seed)
    }

    // MARK: Running

    public static func run(seed: UInt64, options: Options = Options()) -> SimulationOutcome {
        TrainingSimulation(seed: seed, options: options).run()
    }

    public func run() -> SimulationOutcome {
        for index in 0..<options.workers {
            workers.append(SimWorker(index: index))
            if index == 0 { workers[0].slow = world.chance(0.2) ? 100 : 1 }
        }
        startCoordinator()
        for worker in workers { connect(worker) }
        var faultTime = world.uniform(0.5...8)
        while faultTime < options.faultsUntil {
            schedule(.fault, at: faultTime)
            faultTime += world.uniform(0.5...12)
        }
        var count = 0
        while ended == nil, violation == nil, let index = world.next() {
            count += 1
            handle(events[index])
            // Once faults stop, a run ends within `settle`, stretched by its slowest member
            // (a step and a checkpoint cost at most 5 s at full speed).
            let slowest = workers.filter(\.alive).map(\.slow).max() ?? 1
            let bound = options.settle + Double(options.steps) * 5 * slowest
            if world.now > options.faultsUntil + bound {
                violation = "the run did not end within \(Int(bound)) s of the last fault"
            }
        }
        if violation == nil && ended == nil { violation = "the simulation ran out of events before the run ended" }
        if violation == nil, ended == "finished" {
            if recordStep != options.steps {
                violation = "finished with its record at step \(recordStep)"
            } else if folders[folder(recordStep)] != replay(recordStep) {
                violation = "the final checkpoint is not the replay of the recorded rings"
            }
        }
        return SimulationOutcome(
            seed: seed, violation: violation, ending: ended ?? "running", events: count,
            simulatedSeconds: world.now, trace: world.trace)
    }

    func schedule(_ event: Event, at time: Double) {
        events.append(event)
        world.schedule(events.count - 1, at: time)
    }

    /// Sends in order on the link `link` (ZeroMQ keeps a connection's order).
    func send(_ message: Message, link: String) {
        let time = max(world.now + world.delay(), linkClock[link] ?? 0)
        linkClock[link] = time
        schedule(.deliver(message, incarnation: incarnation), at: time)
    }

    func folder(_ step: Int) -> String {
        options.mutation == .singleCheckpointFolder ? "checkpoint" : CheckpointLayout.folder(step: step)
    }

    // MARK: Numeric stand-ins

    static let initialState = SimulationWorld.hash(0x5EED)

    /// The sum of the ring's gradients for step `step`: each member's a hash of its state and share.
    static func gradientSum(_ members: [(state: UInt64, share: Range<Int>)], step: Int) -> UInt64 {
        var sum: UInt64 = 0
        for member in members {
            sum = SimulationWorld.hash(sum, SimulationWorld.hash(member.state, UInt64(step), UInt64(member.share.lowerBound), UInt64(member.share.upperBound)))
        }
        return sum
    }

    /// The state after `steps` steps of a run whose ring had, at each step, the size the
    /// record gives (`tessera train --replay`'s rule: the last ring recorded from a step at or before it).
    func replay(_ steps: Int) -> UInt64 {
        var state = Self.initialState
        for step in 0..<steps {
            let size = recordRings.last { $0.step <= step }?.size ?? 1
            let ids = (0..<size).map { "r\($0)" }
            let shares = TrainingRing.shares(ring: ids, batch: options.batch, minimum: options.minimumShare)
            let sum = Self.gradientSum(ids.compactMap { id in shares[id].map { (state, $0) } }, step: step)
            state = SimulationWorld.hash(state, sum)
        }
        return state
    }

    func fail(_ text: String) {
        if violation == nil {
            violation = text
            world.note("VIOLATION: " + text)
        }
    }
}
