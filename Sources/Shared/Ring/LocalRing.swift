import Core
import Foundation
import Synchronization
import ZeroMQ

/// A ring of members on this machine, each with its own ZeroMQ context (as separate
/// processes would have), joined over tcp or ipc loopback: for benchmarks and tests.
public final class LocalRing {
    public let members: [RingAllReduce]
    private let contexts: [ZMQContext]

    /// How members on one machine are joined.
    public enum Transport: String, CaseIterable, Sendable {
        /// As workers are by default: tcp on loopback with an ipc socket beside it, which
        /// predecessors take (`RingAllReduce.reachable`), segments through shared memory.
        case local
        /// As `local`, with the segments in the messages.
        case localSockets = "local-sockets"
        /// tcp on loopback only.
        case tcp
        /// ipc only, segments in the messages.
        case ipc

        /// Where member `rank` binds; `prefix` makes ipc paths unique.
        public func bind(prefix: String, rank: Int) -> String { self == .ipc ? "ipc://\(prefix)-\(rank)" : "tcp://127.0.0.1:*" }

        /// Whether members bind an ipc socket beside their loopback tcp one.
        public var ipcBeside: Bool { self == .local || self == .localSockets }

        /// Whether members take segments through shared memory.
        public var sharedMemory: Bool { self == .local }
    }

    /// `count` members joined in rank order; `security` gives each rank its `[security]`
    /// (nil: plain links).
    public init(
        members count: Int, transport: Transport = .local, security: ((Int) -> ClusterConfig.Security?)? = nil,
        log: Log = Log("ring")
    ) throws {
        precondition(count >= 1)
        let contexts = try (0..<count).map { _ in try ZMQContext() }
        let prefix = "\(NSTemporaryDirectory())tessera-ring-\(getpid())-\(UUID().uuidString.prefix(8))"
        self.contexts = contexts
        members = try (0..<count).map { rank in
            try RingAllReduce(
                context: contexts[rank], rank: rank, members: count,
                bind: transport.bind(prefix: prefix, rank: rank), ipcBeside: transport.ipcBeside,
                sharedMemory: transport.sharedMemory, security: security?(rank), log: log)
        }
        for member in members { try member.connect(successor: members[(member.rank + 1) % count].endpoint) }
    }

    /// Runs `body` for each of `ranks` (default: every member) on a thread of its own and
    /// returns their outcomes in that order; the sockets live until every one is done, so a
    /// member that finishes first still delivers its last segments.
    public func run<R: Sendable>(ranks: [Int]? = nil, _ body: @escaping @Sendable (RingAllReduce) throws -> R) -> [Result<R, Error>] {
        let ranks = ranks ?? Array(members.indices)
        let results = Mutex<[Int: Result<R, Error>]>([:])
        let threads = ranks.map { rank in
            let member = UncheckedBox(members[rank])
            return Thread {
                let result = Result { try body(member.value) }
                results.withLock { $0[rank] = result }
            }
        }
        threads.forEach { $0.start() }
        withExtendedLifetime((contexts, members)) {
            while results.withLock({ $0.count }) < ranks.count { usleep(1000) }
        }
        return ranks.map { rank in results.withLock { $0[rank]! } }
    }
}
