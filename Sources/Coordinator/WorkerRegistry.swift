import Core
import Foundation
import Shared

/// The workers the coordinator knows: their member, credit, tiles in flight and liveness.
/// Pure bookkeeping, no I/O, so its rules are testable alone.
package struct WorkerRegistry {
    package struct Worker {
        let identity: [UInt8]
        let name: String
        let member: Int
        let threads: Int
        /// The kernels it computes with ("" when it did not say).
        let kernels: String
        var credit: Int
        var inFlight: Set<UInt64> = []
        /// When it was last heard and when it counts as gone (the worker's side keeps the
        /// same rule for its coordinator).
        var liveness: PeerLiveness
        /// When it was last given a tile: workers of a member are served least recently used first.
        var lastAssigned: Date = .distantPast
        var tilesDone = 0
        var joined = Date()
        /// The training run it takes part in: it is given no tiles meanwhile.
        var training: UInt64?
    }

    package private(set) var workers: [[UInt8]: Worker] = [:]
    /// The weights digest accepted for each member (the first worker's, or the pinned one).
    private var digests: [Int: String] = [:]
    let credit: Int
    /// Heartbeat interval and missed heartbeats before a worker counts as gone.
    let interval: Double
    let liveness: Int
    /// Heartbeats a worker in a training run may miss.
    let trainingLiveness: Int

    init(credit: Int, pinnedDigests: [Int: String], interval: Double = 1, liveness: Int = 3, trainingLiveness: Int? = nil) {
        self.credit = credit
        digests = pinnedDigests
        self.interval = interval
        self.liveness = liveness
        self.trainingLiveness = trainingLiveness ?? liveness
    }

    /// Admits a worker, or says why not.
    package mutating func register(identity: [UInt8], name: String, member: Int, digest: String, threads: Int, kernels: String = "", now: Date) -> String? {
        if let accepted = digests[member], accepted != digest {
            return "weights digest \(digest) differs from \(accepted), which the other workers of this member use"
        }
        digests[member] = digest
        workers[identity] = Worker(
            identity: identity, name: name, member: member, threads: threads, kernels: kernels, credit: credit,
            liveness: PeerLiveness(interval: interval, liveness: liveness, now: now))
        return nil
    }

    /// The kernels, other than `kernels`, that other workers of `member` run (unknown ones aside).
    package func otherKernels(of member: Int, than kernels: String) -> Set<String> {
        Set(workers.values.filter { $0.member == member && !$0.kernels.isEmpty && $0.kernels != kernels }.map(\.kernels))
    }

    package func isRegistered(_ identity: [UInt8]) -> Bool { workers[identity] != nil }

    package mutating func heard(_ identity: [UInt8], at now: Date) { workers[identity]?.liveness.heard(at: now) }

    /// The least recently used worker of `member` with credit left (ties: the smaller
    /// routing id, so that the order never depends on a hash).
    package func nextWorker(for member: Int) -> [UInt8]? {
        workers.values.filter { $0.member == member && $0.credit > 0 && $0.training == nil }.min {
            $0.lastAssigned != $1.lastAssigned ? $0.lastAssigned < $1.lastAssigned : $0.identity.lexicographicallyPrecedes($1.identity)
        }?.identity
    }

    package func count(of member: Int) -> Int { workers.values.filter { $0.member == member }.count }

    /// Workers of `member` that take tiles (those not training).
    package func available(of member: Int) -> Int { workers.values.filter { $0.member == member && $0.training == nil }.count }

    /// Marks a worker as taking part in training run `run` (nil: back to tiles).
    package mutating func setTraining(_ identity: [UInt8], _ run: UInt64?) { workers[identity]?.training = run }

    package mutating func assign(_ request: UInt64, to identity: [UInt8], at now: Date) {
        workers[identity]?.credit -= 1
        workers[identity]?.inFlight.insert(request)
        workers[identity]?.lastAssigned = now
    }

    /// Whether `request` is in flight at `identity`; if so, it is done and the credit returns.
    package mutating func complete(_ request: UInt64, by identity: [UInt8]) -> Bool {
        guard workers[identity]?.inFlight.remove(request) != nil else { return false }
        workers[identity]!.credit += 1
        workers[identity]!.tilesDone += 1
        return true
    }

    /// Takes back `request` from `identity` without counting it done: its credit returns.
    package mutating func withdraw(_ request: UInt64, from identity: [UInt8]) {
        guard workers[identity]?.inFlight.remove(request) != nil else { return }
        workers[identity]!.credit += 1
    }

    /// Removes a worker, returning the requests it still had.
    package mutating func remove(_ identity: [UInt8]) -> Set<UInt64> {
        workers.removeValue(forKey: identity)?.inFlight ?? []
    }

    /// Workers not heard from for `interval × liveness` (× `trainingLiveness` in a training run).
    package func silent(at now: Date) -> [[UInt8]] {
        workers.values.filter { $0.liveness.peerSilent(at: now, window: $0.training == nil ? nil : trainingLiveness) }.map(\.identity)
    }
}
