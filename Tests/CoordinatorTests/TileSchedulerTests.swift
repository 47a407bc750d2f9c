import Foundation
import Testing
import Tiling

@testable import Coordinator

/// The scheduler driven with a fake clock: no sockets, no sleeping.
@Suite struct TileSchedulerTests {
    let t0 = Date(timeIntervalSince1970: 5_000)

    /// Two members; credit 2; heartbeats every second, three missed and a worker is gone;
    /// a member may wait 10 s for a worker.
    func scheduler() -> TileScheduler {
        TileScheduler(members: 2, credit: 2, pinnedDigests: [:], interval: 1, liveness: 3, memberDeadline: 10)
    }

    func join(_ scheduler: inout TileScheduler, _ id: UInt8, member: Int, at time: Date? = nil) {
        #expect(
            scheduler.register(
                identity: [id], name: "w\(id)", member: member, digest: "d\(member)", threads: 1, kernels: "",
                now: time ?? t0) == nil)
    }

    func tile(_ n: Int) -> TileIndex { TileIndex(row: 0, column: n) }

    func drain(_ scheduler: inout TileScheduler, at time: Date) -> [TileScheduler.Dispatch] {
        var sent: [TileScheduler.Dispatch] = []
        while let next = scheduler.nextDispatch(at: time + Double(sent.count) * 0.001) { sent.append(next) }
        return sent
    }

    @Test func everyTileGoesToEveryMemberInOrderWithFreshRequests() {
        var s = scheduler()
        join(&s, 1, member: 0)
        join(&s, 2, member: 1)
        for n in 0..<2 { s.enqueue(job: 1, tile: tile(n), pixels: [UInt8(n)]) }
        let sent = drain(&s, at: t0)
        #expect(sent.map(\.request) == [1, 2, 3, 4])
        #expect(sent.map(\.task.member) == [0, 0, 1, 1] && sent.map(\.task.tile) == [tile(0), tile(1), tile(0), tile(1)])
        #expect(sent.map(\.worker) == [[1], [1], [2], [2]] && sent.allSatisfy { $0.task.pixels != nil })
    }

    @Test func workersOfAMemberTakeTurnsLeastRecentlyUsedFirstWithinTheirCredit() {
        var s = scheduler()
        join(&s, 1, member: 0)
        join(&s, 2, member: 0)
        for n in 0..<6 { s.enqueue(job: 1, tile: tile(n), pixels: []) }
        let sent = drain(&s, at: t0).filter { $0.task.member == 0 }
        // Two workers × credit 2: four go out, alternating, and two wait.
        #expect(sent.count == 4 && sent[0].worker != sent[1].worker && sent[2].worker == sent[0].worker)
        #expect(s.queued(for: 0) == 2 && s.nextDispatch(at: t0 + 1) == nil)
        // An answer returns one credit, to the worker that answered.
        #expect(s.complete(sent[1].request, by: sent[1].worker)?.tile == sent[1].task.tile)
        #expect(s.nextDispatch(at: t0 + 2)?.worker == sent[1].worker)
    }

    @Test func lateAndStrayAnswersChangeNothing() {
        var s = scheduler()
        join(&s, 1, member: 0)
        join(&s, 2, member: 0)
        s.enqueue(job: 1, tile: tile(0), pixels: [])
        let sent = drain(&s, at: t0).filter { $0.task.member == 0 }
        let other: [UInt8] = sent[0].worker == [1] ? [2] : [1]
        #expect(s.complete(sent[0].request, by: other) == nil)  // another worker's request
        #expect(s.complete(999, by: [1]) == nil)  // never sent
        #expect(s.complete(sent[0].request, by: sent[0].worker) != nil)
        #expect(s.complete(sent[0].request, by: sent[0].worker) == nil)  // only once
    }

    /// A lost worker's tiles are read again (asked once each, in order), wait at the front
    /// of their queue meanwhile, and then go to another worker.
    @Test func aLostWorkersTilesAreReadAgainAndGoToAnotherWorker() {
        var s = scheduler()
        join(&s, 1, member: 0)
        for n in 0..<4 { s.enqueue(job: 1, tile: tile(n), pixels: [1]) }
        let first = drain(&s, at: t0).filter { $0.task.member == 0 }
        #expect(first.map(\.task.tile) == [tile(0), tile(1)])
        #expect(s.lose([1]) == 2)
        // The late answer of a lost worker is ignored.
        #expect(s.complete(first[0].request, by: [1]) == nil)
        let toRead = s.tilesToRead()
        #expect(toRead.map(\.tile) == [tile(0), tile(1)] && toRead.allSatisfy { $0.job == 1 } && s.tilesToRead().isEmpty)
        join(&s, 2, member: 0)
        // Until they are read, the tiles behind them go first.
        let meanwhile = drain(&s, at: t0 + 1).filter { $0.task.member == 0 }
        #expect(meanwhile.map(\.task.tile) == [tile(2), tile(3)])
        for sent in meanwhile { _ = s.complete(sent.request, by: sent.worker) }
        s.supply(job: 1, tile: tile(1), pixels: [9])
        s.supply(job: 1, tile: tile(0), pixels: [8])
        let again = drain(&s, at: t0 + 2).filter { $0.task.member == 0 }
        #expect(again.map(\.task.tile) == [tile(0), tile(1)] && again.allSatisfy { $0.worker == [2] })
        #expect(again.map(\.task.pixels) == [[8], [9]])
    }

    @Test func aFailedSendLosesTheWorkerAndKeepsTheTile() {
        var s = scheduler()
        join(&s, 1, member: 0)
        join(&s, 2, member: 0)
        s.enqueue(job: 1, tile: tile(0), pixels: [7])
        let next = s.nextDispatch(at: t0)!
        #expect(s.sendFailed(next) == 0)
        #expect(!s.registry.isRegistered(next.worker))
        let retry = s.nextDispatch(at: t0)!
        #expect(retry.task == next.task && retry.worker != next.worker && retry.request != next.request)
    }

    /// A worker that registers again (a second register, or a restart on its side) starts
    /// afresh: its tiles go to others, its credit is whole.
    @Test func registeringAgainStartsAfresh() {
        var s = scheduler()
        join(&s, 1, member: 0)
        for n in 0..<3 { s.enqueue(job: 1, tile: tile(n), pixels: []) }
        let sent = drain(&s, at: t0).filter { $0.task.member == 0 }
        #expect(sent.count == 2)
        join(&s, 1, member: 0, at: t0 + 1)
        #expect(s.registry.workers[[1]]?.inFlight.isEmpty == true && s.registry.workers[[1]]?.credit == 2)
        #expect(s.tilesToRead().map(\.tile) == [tile(0), tile(1)])
        for n in 0..<2 { s.supply(job: 1, tile: tile(n), pixels: []) }
        #expect(drain(&s, at: t0 + 2).filter { $0.task.member == 0 }.map(\.task.tile) == [tile(0), tile(1)])
    }

    @Test func silentWorkersAreFoundAndHeartbeatsGoEveryInterval() {
        var s = scheduler()
        join(&s, 1, member: 0)
        join(&s, 2, member: 1)
        s.heard([2], at: t0 + 2)
        #expect(s.silentWorkers(at: t0 + 3).isEmpty)
        #expect(s.silentWorkers(at: t0 + 3.01) == [[1]])
        #expect(s.heartbeatsDue(at: t0) && !s.heartbeatsDue(at: t0 + 0.9) && s.heartbeatsDue(at: t0 + 1))
    }

    @Test func aMemberWithWorkAndNoWorkerIsTimedAgainstTheDeadline() {
        var s = scheduler()
        join(&s, 1, member: 0)
        s.enqueue(job: 1, tile: tile(0), pixels: [])
        func waiting(_ time: Double, owed: Bool = false) -> ([Int], Bool) {
            let result = s.waiting(at: t0 + time, owed: owed)
            return (result.members, result.overdue)
        }
        // Member 1 has a tile queued and no worker; member 0 has its worker.
        #expect(waiting(0) == ([1], false))
        #expect(waiting(10).1 == false)
        #expect(waiting(10.01) == ([1], true))
        // A worker joining stops the clock; losing it starts it again from then.
        join(&s, 2, member: 1, at: t0 + 11)
        #expect(waiting(11) == ([], false))
        _ = s.lose([2])
        #expect(waiting(12) == ([1], false))
        #expect(waiting(22.01) == ([1], true))
        // Nothing queued and nothing owed: no waiting; answers owed count as work.
        var idle = scheduler()
        #expect(idle.waiting(at: t0, owed: false).members.isEmpty)
        #expect(idle.waiting(at: t0, owed: true).members == [0, 1])
    }

    @Test func aCancelledJobLeavesNothingQueuedOrOutstanding() {
        var s = scheduler()
        join(&s, 1, member: 0)
        for n in 0..<3 { s.enqueue(job: 1, tile: tile(n), pixels: []) }
        s.enqueue(job: 2, tile: tile(0), pixels: [])
        _ = drain(&s, at: t0)
        s.cancel(job: 1)
        #expect(s.assignments.values.allSatisfy { $0.job == 2 } && s.registry.workers[[1]]?.tilesDone == 0)
        #expect(s.queued(for: 0) == 1 && s.queued(for: 1) == 1)
        #expect(s.nextDispatch(at: t0 + 1)?.task.job == 2)
        // Tiles of a cancelled job are no longer read again.
        _ = s.lose([1])
        s.cancel(job: 2)
        #expect(s.tilesToRead().isEmpty)
    }

    @Test func theAdmissionWindowFollowsTheWorkersCredit() {
        var s = scheduler()
        #expect(s.admissionWindow == 8)
        for id in UInt8(1)...3 { join(&s, id, member: 0) }
        #expect(s.admissionWindow == 12)
        for id in UInt8(4)...100 { join(&s, id, member: 1) }
        #expect(s.admissionWindow == 256)
    }

    /// A dispatch for a job that stopped running gives its credit back uncounted.
    @Test func aWithdrawnDispatchReturnsItsCredit() {
        var s = scheduler()
        join(&s, 1, member: 0)
        s.enqueue(job: 1, tile: tile(0), pixels: [])
        let next = s.nextDispatch(at: t0)!
        s.withdraw(next)
        #expect(s.registry.workers[[1]]?.credit == 2 && s.registry.workers[[1]]?.tilesDone == 0 && s.assignments.isEmpty)
    }
}
