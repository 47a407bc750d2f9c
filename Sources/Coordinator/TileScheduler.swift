import Foundation
import Shared
import Tiling

/// Which worker predicts which tile, as a value-type state machine (docs/ARCHITECTURE.md):
/// per-member queues, workers of a member served least recently used first within their
/// credit, tiles of a lost worker back to the front of their queue, late answers ignored,
/// silent workers counted gone, members without workers timed against a deadline. It takes
/// events with the time they happen and returns what to do; the server does the I/O, so
/// every rule is tested with a fake clock and no sockets.
package struct TileScheduler {
    /// A tile for one member, waiting for a worker. `pixels` is nil for a tile given back
    /// by a lost worker until the driver has read it again (`tilesToRead`, `supply`).
    package struct Task: Equatable {
        package let job: UInt64
        package let tile: TileIndex
        package let member: Int
        package var pixels: [UInt8]?
    }

    /// A tile sent and not yet answered.
    package struct Assignment: Equatable {
        package let job: UInt64
        package let tile: TileIndex
        package let member: Int
        package let worker: [UInt8]
    }

    /// A tile to send now, under a fresh request id.
    package struct Dispatch: Equatable {
        package let request: UInt64
        package let worker: [UInt8]
        package var task: Task
    }

    package private(set) var registry: WorkerRegistry
    private var queues: [[Task]]
    package private(set) var assignments: [UInt64: Assignment] = [:]
    private var nextRequest: UInt64 = 1
    /// Seconds between heartbeats to every worker, and how many a worker may miss.
    let interval: Double
    let liveness: Int
    /// Seconds a member with work may go without a worker before its job fails.
    let memberDeadline: Double
    private var lastHeartbeat = Date.distantPast
    /// Since when each member with work has had no worker.
    private var waitingSince: [Int: Date] = [:]
    /// Tiles given back without pixels: to be read again (`toRead`), or being read.
    private struct TileKey: Hashable { let job: UInt64; let tile: TileIndex }
    private var toRead: [TileKey] = []
    private var reading: Set<TileKey> = []

    package init(
        members: Int, credit: Int, pinnedDigests: [Int: String], interval: Double, liveness: Int, memberDeadline: Double,
        trainingLiveness: Int? = nil
    ) {
        registry = WorkerRegistry(
            credit: credit, pinnedDigests: pinnedDigests, interval: interval, liveness: liveness,
            trainingLiveness: trainingLiveness)
        queues = Array(repeating: [], count: members)
        self.interval = interval
        self.liveness = liveness
        self.memberDeadline = memberDeadline
    }

    package var members: Int { queues.count }

    // MARK: Workers

    /// Admits a worker (a worker registering again starts afresh: its tiles go back to
    /// their queues), or says why not.
    package mutating func register(
        identity: [UInt8], name: String, member: Int, digest: String, threads: Int, kernels: String,
        now: Date
    ) -> String? {
        if registry.isRegistered(identity) { _ = lose(identity) }
        let refusal = registry.register(
            identity: identity, name: name, member: member, digest: digest, threads: threads,
            kernels: kernels, now: now)
        if refusal == nil { waitingSince[member] = nil }
        return refusal
    }

    package mutating func heard(_ identity: [UInt8], at now: Date) { registry.heard(identity, at: now) }

    /// Marks a worker as training (no tiles) or back to tiles.
    package mutating func setTraining(_ identity: [UInt8], _ run: UInt64?) {
        registry.setTraining(identity, run)
        if let worker = registry.workers[identity], run == nil { waitingSince[worker.member] = nil }
    }

    /// A worker is gone: its unanswered tiles go back to the front of their member's
    /// queue, in request order. Returns how many.
    package mutating func lose(_ identity: [UInt8]) -> Int {
        let requests = registry.remove(identity).sorted()
        let lost = requests.compactMap { assignments.removeValue(forKey: $0) }
        for assignment in lost.reversed() {
            queues[assignment.member].insert(Task(job: assignment.job, tile: assignment.tile, member: assignment.member, pixels: nil), at: 0)
        }
        for assignment in lost {
            let key = TileKey(job: assignment.job, tile: assignment.tile)
            if reading.insert(key).inserted { toRead.append(key) }
        }
        return requests.count
    }

    /// Workers heard from by nobody for `interval × liveness`: the driver loses them.
    package func silentWorkers(at now: Date) -> [[UInt8]] {
        registry.silent(at: now)
    }

    /// Whether heartbeats are due to every worker; if so, they count as sent.
    package mutating func heartbeatsDue(at now: Date) -> Bool {
        guard now.timeIntervalSince(lastHeartbeat) >= interval else { return false }
        lastHeartbeat = now
        return true
    }

    // MARK: Tiles

    /// A tile admitted for every member.
    package mutating func enqueue(job: UInt64, tile: TileIndex, pixels: [UInt8]) {
        for member in queues.indices { queues[member].append(Task(job: job, tile: tile, member: member, pixels: pixels)) }
    }

    /// Tiles to read again for tasks given back without pixels, each asked once; the
    /// driver reads them and hands them over with `supply`.
    package mutating func tilesToRead() -> [(job: UInt64, tile: TileIndex)] {
        defer { toRead.removeAll() }
        return toRead.map { ($0.job, $0.tile) }
    }

    /// The pixels of a tile read again, for every task waiting for them.
    package mutating func supply(job: UInt64, tile: TileIndex, pixels: [UInt8]) {
        guard reading.remove(TileKey(job: job, tile: tile)) != nil else { return }
        for member in queues.indices {
            for index in queues[member].indices
            where queues[member][index].pixels == nil
                && queues[member][index].job == job && queues[member][index].tile == tile
            {
                queues[member][index].pixels = pixels
            }
        }
    }

    /// The next tile to send — the first with pixels in its member's queue — to the least
    /// recently used worker of its member with credit left, or nil when no member has
    /// both. The tile counts as sent; the driver calls `sendFailed` if it could not go.
    package mutating func nextDispatch(at now: Date) -> Dispatch? {
        for member in queues.indices {
            guard let index = queues[member].firstIndex(where: { $0.pixels != nil }),
                let worker = registry.nextWorker(for: member)
            else { continue }
            let task = queues[member].remove(at: index)
            let request = nextRequest
            nextRequest += 1
            assignments[request] = Assignment(job: task.job, tile: task.tile, member: member, worker: worker)
            registry.assign(request, to: worker, at: now)
            return Dispatch(request: request, worker: worker, task: task)
        }
        return nil
    }

    /// A dispatch that could not be sent: its tile goes back to the front of its queue
    /// and its worker (gone or full) is lost. Returns how many tiles that worker had.
    package mutating func sendFailed(_ dispatch: Dispatch) -> Int {
        withdraw(dispatch)
        queues[dispatch.task.member].insert(dispatch.task, at: 0)
        return lose(dispatch.worker)
    }

    /// A dispatch of a job that is no longer running: nothing was sent, and the worker's
    /// credit returns.
    package mutating func withdraw(_ dispatch: Dispatch) {
        assignments[dispatch.request] = nil
        registry.withdraw(dispatch.request, from: dispatch.worker)
    }

    /// What `request` was, if it is outstanding at `identity`; it is then done and the
    /// credit returns. Nil for a late or stray answer, which changes nothing.
    package mutating func complete(_ request: UInt64, by identity: [UInt8]) -> Assignment? {
        guard let assignment = assignments[request], assignment.worker == identity else { return nil }
        assignments[request] = nil
        _ = registry.complete(request, by: identity)
        return assignment
    }

    /// Forgets every tile of `job`, queued or sent (the job failed or ended).
    package mutating func cancel(job: UInt64) {
        for member in queues.indices { queues[member].removeAll { $0.job == job } }
        toRead.removeAll { $0.job == job }
        reading = reading.filter { $0.job != job }
        for (request, assignment) in assignments where assignment.job == job {
            assignments[request] = nil
            registry.withdraw(request, from: assignment.worker)
        }
    }

    /// Tiles waiting for a worker of `member`.
    package func queued(for member: Int) -> Int { queues[member].count }

    /// Tiles a window of admission may hold: twice the workers' total credit, 8 to 256.
    package var admissionWindow: Int {
        let credits = queues.indices.map { registry.available(of: $0) * registry.credit }.reduce(0, +)
        return min(256, max(8, 2 * credits))
    }

    // MARK: Deadlines

    /// The members that have work — tiles queued, or (`owed`) answers the running job
    /// still waits for — and no worker; `overdue` when one of them has waited longer than
    /// the deadline.
    package mutating func waiting(at now: Date, owed: Bool) -> (members: [Int], overdue: Bool) {
        var missing: [Int] = []
        for member in queues.indices {
            if registry.available(of: member) == 0 && (owed || !queues[member].isEmpty) {
                missing.append(member)
                waitingSince[member] = waitingSince[member] ?? now
            } else {
                waitingSince[member] = nil
            }
        }
        let since = missing.compactMap { waitingSince[$0] }.min()
        return (missing, since.map { now.timeIntervalSince($0) > memberDeadline } ?? false)
    }
}
