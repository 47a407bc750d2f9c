import Core
import Foundation
import Shared
import Testing
import Worker

/// The worker's side of the worker link, driven with a fake clock: no sockets, no sleeping.
@Suite struct WorkerLinkTests {
    static let registration = Wire.Register(
        protocolVersion: Int(WireHeader.version), member: "b0", architecture: "effunet-b0", weightsDigest: "", threads: 2, name: "w",
        tileSides: Wire.TileSides(multiple: 32, minimum: 32, maximum: 256))
    let t0 = Date(timeIntervalSince1970: 1_000)

    func link() -> WorkerLink {
        var link = WorkerLink(registration: Self.registration, maxTileSize: 256, interval: 1, liveness: 3, now: t0)
        #expect(link.reconnected(at: t0) == [.train(.abandon), .send(WireCodec.frames(.register, Self.registration))])
        return link
    }

    func welcome(_ milliseconds: Int = 500, _ liveness: Int = 3, credit: Int = 2) -> [[UInt8]] {
        WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: milliseconds, liveness: liveness, credit: credit))
    }

    func tile(_ side: UInt32, request: UInt64 = 1) -> [[UInt8]] {
        WireCodec.frames(
            Wire.TileRequest(job: 1, request: request, row: 0, column: 0, size: side, encoding: .uint8, flips: .none),
            pixels: [UInt8](repeating: 0, count: Int(side * side * 3)))
    }

    func isDropped(_ actions: [WorkerLink.Action]) -> Bool { actions.count == 1 && { if case .dropped = actions[0] { true } else { false } }() }

    @Test func aWelcomeRegistersAndRetimesTheLink() {
        var link = link()
        _ = link.received(welcome(500, 4, credit: 3), at: t0)
        #expect(link.registered && link.credit == 3 && link.liveness.interval == 0.5 && link.liveness.liveness == 4)
        // Heartbeats every interval; the coordinator counted gone after interval × liveness.
        #expect(link.tick(at: t0 + 0.4) == [])
        #expect(link.tick(at: t0 + 0.5) == [.send(WireCodec.frames(.heartbeat))])
        #expect(!link.tick(at: t0 + 2.0).contains { if case .reconnect = $0 { true } else { false } })
        #expect(link.tick(at: t0 + 2.01).contains(.reconnect(after: 1)))
    }

    /// In a training run the worker judges the coordinator by the welcome's training window
    /// (a wrong reconnection would abandon its step); outside one by the slide-job window.
    @Test func aWorkerInATrainingRunWaitsTheTrainingWindow() {
        var link = link()
        _ = link.received(WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 500, liveness: 4, credit: 3, trainingLiveness: 10)), at: t0)
        func reconnects(_ seconds: Double, training: Bool) -> Bool {
            var copy = link
            return copy.tick(at: t0 + seconds, inTraining: training).contains { if case .reconnect = $0 { true } else { false } }
        }
        #expect(!reconnects(2.5, training: true) && reconnects(2.5, training: false))
        #expect(!reconnects(4.99, training: true) && reconnects(5.01, training: true))
        // A welcome without the field: the training window is the slide-job one.
        var plain = self.link()
        _ = plain.received(welcome(500, 4), at: t0)
        #expect(plain.tick(at: t0 + 2.01, inTraining: true).contains(.reconnect(after: 1)))
    }

    /// Finding 4: a welcome of 2⁶³−1 made the worker deaf to a silent coordinator for good.
    @Test(arguments: [(Int.max, 3), (500, Int.max), (10, 3), (500, 1), (500, 101)])
    func aWelcomeOutsideTheLimitsIsDroppedAndLivenessHolds(milliseconds: Int, liveness: Int) {
        var link = link()
        #expect(isDropped(link.received(welcome(milliseconds, liveness), at: t0)))
        #expect(!link.registered && link.dropped == 1)
        // Not welcomed: it registers again each interval, and reconnects after 3 s of silence.
        #expect(link.tick(at: t0 + 1) == [.send(WireCodec.frames(.register, Self.registration))])
        #expect(link.tick(at: t0 + 3.01).contains(.reconnect(after: 1)))
    }

    @Test func reconnectionsBackOffUntilAWelcome() {
        var link = link()
        var waits: [Double] = []
        var now = t0
        for _ in 0..<8 {
            now += 3.01
            for case .reconnect(let wait) in link.tick(at: now) { waits.append(wait) }
            _ = link.reconnected(at: now)
        }
        #expect(waits == [1, 2, 4, 8, 16, 32, 32, 32])
        _ = link.received(welcome(), at: now)
        #expect(link.tick(at: now + 1.51).contains(.reconnect(after: 1)))
    }

    /// Finding 3: any refuse ended a worker, malformed ones too.
    @Test func onlyAWellFormedRefuseStopsTheWorker() {
        var link = link()
        for body in ["{}", #"{"reason": 5}"#, #""nope""#, ""] {
            #expect(isDropped(link.received([WireHeader.frame(.refuse), Array(body.utf8)], at: t0)), "\(body)")
        }
        #expect(link.received(WireCodec.frames(.refuse, Wire.Reason("no member b0")), at: t0) == [.stop("no member b0")])
    }

    /// Finding 2: a tile side the member cannot take killed a CNN worker; now it is
    /// answered with tileFailed, and the model never sees it.
    @Test(arguments: [UInt32(16), 100, 250, 288])
    func aTileTheMemberCannotTakeIsAnsweredWithTileFailed(side: UInt32) throws {
        var link = link()
        _ = link.received(welcome(), at: t0)
        let actions = link.received(tile(side, request: 9), at: t0)
        if side > 256 {
            #expect(isDropped(actions))  // over the socket's limit: not a tile this worker takes at all
            return
        }
        let sent = actions.compactMap { if case .send(let frames) = $0 { frames } else { nil } }
        #expect(sent.count == 1 && !actions.contains { if case .compute = $0 { true } else { false } })
        let (kind, body) = try WireCodec.open(try #require(sent.first)).get()
        let failure = try WireCodec.decode(Wire.TileFailure.self, body[0]).get()
        #expect(kind == .tileFailed && failure.request == 9)
        #expect(failure.reason.contains("multiples of 32 from 32 to 256") && failure.reason.contains("not \(side)"), "\(failure.reason)")
    }

    func tickets(_ actions: [WorkerLink.Action]) -> [UInt64] {
        actions.compactMap { if case .compute(_, _, let ticket) = $0 { ticket } else { nil } }
    }

    @Test func tilesWithinTheCreditReachTheModel() {
        var link = link()
        _ = link.received(welcome(credit: 2), at: t0)
        let first = tickets(link.received(tile(64, request: 1), at: t0))
        #expect(first.count == 1 && tickets(link.received(tile(64, request: 2), at: t0)).count == 1)
        #expect(link.outstanding.count == 2 && link.backlog == 2)
        #expect(tickets(link.received(tile(64, request: 3), at: t0)).isEmpty)
        link.answered(first, at: t0)
        #expect(tickets(link.received(tile(64, request: 4), at: t0)).count == 1)
    }

    /// A coordinator restarted while tiles were computing knows nothing of them: the new
    /// registration gets its whole credit (the restart test of the cluster found this),
    /// and answers of the old tiles do not count against it.
    @Test func aNewRegistrationStartsWithItsWholeCredit() {
        var link = link()
        _ = link.received(welcome(credit: 2), at: t0)
        let old = tickets(link.received(tile(64, request: 1), at: t0)) + tickets(link.received(tile(64, request: 2), at: t0))
        _ = link.received(WireCodec.frames(.registerAgain), at: t0)
        _ = link.received(welcome(credit: 2), at: t0)
        let new = tickets(link.received(tile(64, request: 1), at: t0)) + tickets(link.received(tile(64, request: 2), at: t0))
        #expect(new.count == 2 && link.backlog == 4)
        link.answered(old, at: t0)
        #expect(link.outstanding == Set(new) && tickets(link.received(tile(64, request: 3), at: t0)).isEmpty)
        // A second welcome (the answer to a second register) starts afresh too: the
        // coordinator re-registered this worker and gave its tiles to others.
        _ = link.received(welcome(credit: 2), at: t0)
        #expect(link.outstanding.isEmpty && tickets(link.received(tile(64, request: 4), at: t0)).count == 1)
    }

    /// However often a coordinator makes it register again, the queue stays bounded.
    @Test func theComputeQueueIsBoundedAcrossRegistrations() {
        var link = link()
        var handed = 0
        for round in 0..<10 {
            _ = link.received(WireCodec.frames(.registerAgain), at: t0)
            _ = link.received(welcome(credit: 64), at: t0)
            for request in 0..<64 { handed += tickets(link.received(tile(32, request: UInt64(round * 64 + request)), at: t0)).count }
        }
        #expect(handed == WorkerLink.maxBacklog && link.backlog == WorkerLink.maxBacklog)
    }

    @Test func tilesBeforeAWelcomeAreRefused() {
        var link = link()
        #expect(!link.received(tile(64), at: t0).contains { if case .compute = $0 { true } else { false } })
    }

    @Test func registerAgainRegisters() {
        var link = link()
        _ = link.received(welcome(), at: t0)
        #expect(link.received(WireCodec.frames(.registerAgain), at: t0) == [.train(.abandon), .send(WireCodec.frames(.register, Self.registration))])
        #expect(!link.registered && link.goodbye == nil)
    }
}
