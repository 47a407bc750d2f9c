import Core
import Foundation
import Testing
import ZeroMQ

@testable import Shared

/// The ring all-reduce over real ZeroMQ sockets on loopback, one thread per member.
@Suite struct RingAllReduceTests {
    /// Members joined in a ring; each runs `body` on its own thread; their results in rank order.
    static func ring<R: Sendable>(
        _ members: Int, segment: Int = 7, timeout: Int = 10_000, transport: LocalRing.Transport = .local,
        _ body: @escaping @Sendable (RingAllReduce) throws -> R
    ) throws -> [Result<R, Error>] {
        let ring = try LocalRing(members: members, transport: transport)
        for member in ring.members {
            member.segmentValues = segment
            member.timeoutMilliseconds = timeout
            member.smallestSharedSegment = 1  // every segment through shared memory where members take it so
        }
        return ring.run(body)
    }

    static func values(_ rank: Int, _ count: Int) -> [Float] {
        var random = SplitMix64(seed: UInt64(rank) &+ 99)
        return (0..<count).map { _ in random.nextSigned() * 1000 }
    }

    /// Segments of 7 values are added one value at a time, those of 50 sixteen at a time
    /// and then one at a time.
    @Test(arguments: [1, 2, 3, 4], [7, 50])
    func everyMemberGetsTheSameSumInRingOrder(members: Int, segment: Int) throws {
        let count = 301
        let results = try Self.ring(members, segment: segment) { member -> [Float] in
            var buffer = Self.values(member.rank, count)
            try member.allReduce(&buffer, round: 5)
            #expect(member.loans.count == 0)
            return buffer
        }
        let sums = try results.map { try $0.get() }
        let plan = RingPlan(members: members, rank: 0, count: count)
        var expected = [Float](repeating: 0, count: count)
        for c in 0..<members {
            for i in plan.chunk(c) {
                var sum = Self.values(c, count)[i]
                for k in 1..<max(members, 1) where members > 1 { sum = sum + Self.values((c + k) % members, count)[i] }
                expected[i] = sum
            }
        }
        for sum in sums { #expect(sum.map(\.bitPattern) == expected.map(\.bitPattern)) }
    }

    /// Each way members on one machine are joined carries the same sums.
    @Test(arguments: LocalRing.Transport.allCases)
    func everyTransportSumsAlike(transport: LocalRing.Transport) throws {
        let results = try Self.ring(3, segment: 50, transport: transport) { member -> [Float] in
            var buffer = Self.values(member.rank, 301)
            try member.allReduce(&buffer, round: 5)
            return buffer
        }
        let sums = try results.map { try $0.get().map(\.bitPattern) }
        let reference = try Self.ring(3, segment: 50, transport: .tcp) { member -> [Float] in
            var buffer = Self.values(member.rank, 301)
            try member.allReduce(&buffer, round: 5)
            return buffer
        }
        for sum in sums { #expect(sum == (try reference[0].get()).map(\.bitPattern)) }
    }

    /// A member on loopback names an ipc endpoint beside its tcp one; a predecessor takes
    /// the ipc one only where it sees it listening.
    @Test func aPredecessorTakesIPCOnlyWhereItSeesTheSocket() throws {
        let context = try ZMQContext()
        let local = try RingAllReduce(context: context, rank: 0, members: 1, bind: "tcp://127.0.0.1:*")
        let parts = local.endpoint.split(separator: " ").map(String.init)
        #expect(
            parts.count == 3 && parts[0].hasPrefix("ipc://") && parts[1].hasPrefix("tcp://127.0.0.1:") && parts[2].hasPrefix("shm:"), "\(local.endpoint)")
        #expect(RingAllReduce.reachable(local.endpoint) == parts[0])
        #expect(RingAllReduce.reachable(local.endpoint, listening: { _ in false }) == parts[1])
        #expect(RingAllReduce.reachable("ipc:///nowhere/socket tcp://10.0.0.2:5000") == "tcp://10.0.0.2:5000")
        #expect(RingAllReduce.reachable("ipc://@tessera-ring-nobody tcp://10.0.0.2:5000") == "tcp://10.0.0.2:5000")
        #expect(RingAllReduce.reachable("tcp://10.0.0.2:5000") == "tcp://10.0.0.2:5000")
        #expect(RingAllReduce.reachable("shm:tessera-ring-1-x ipc://@tessera-ring-nobody tcp://10.0.0.2:5000") == "tcp://10.0.0.2:5000")
        let sockets = try RingAllReduce(context: context, rank: 0, members: 1, bind: "tcp://127.0.0.1:*", sharedMemory: false)
        #expect(sockets.endpoint.split(separator: " ").count == 2)
        let onlyTCP = try RingAllReduce(context: context, rank: 0, members: 1, bind: "tcp://127.0.0.1:*", ipcBeside: false)
        #expect(onlyTCP.endpoint.hasPrefix("tcp://") && !onlyTCP.endpoint.contains(" "))
        let elsewhere = try RingAllReduce(context: context, rank: 0, members: 1, bind: "tcp://0.0.0.0:*")
        #expect(!elsewhere.endpoint.contains("ipc://"))
    }

    @Test func aMessageOfAnotherRoundIsAnErrorNotASum() throws {
        let results = try Self.ring(2, timeout: 2000) { member -> [Float] in
            var buffer = [Float](repeating: 1, count: 10)
            try member.allReduce(&buffer, round: member.rank == 0 ? 1 : 2)
            return buffer
        }
        for result in results {
            #expect(throws: TesseraError.self) { try result.get() }
        }
    }

    @Test func aSilentPredecessorTimesOut() throws {
        let started = Date()
        let results = try Self.ring(2, timeout: 300) { member -> [Float] in
            var buffer = [Float](repeating: 1, count: 10)
            if member.rank == 0 { try member.allReduce(&buffer, round: 1) }
            return buffer
        }
        do {
            _ = try results[0].get()
            Issue.record("member 0 completed without its predecessor")
        } catch let error as TesseraError {
            #expect(error.code == .timeout && error.reason.contains("member 1"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    /// Segments are sent from the buffer itself: an all-reduce that fails while its
    /// segments are still queued for a successor nobody listens at must take them back
    /// before it throws, and the member must still sum once its ring is re-formed.
    @Test func aFailedAllReduceGivesItsBufferBack() throws {
        let context = try ZMQContext()
        let member = try RingAllReduce(context: context, rank: 0, members: 2, bind: "tcp://127.0.0.1:*")
        member.timeoutMilliseconds = 300
        try member.connect(successor: "tcp://127.0.0.1:1")  // nobody there: ZeroMQ keeps the segments
        var buffer = [Float](repeating: 1, count: 1000)
        #expect(throws: TesseraError.self) { try member.allReduce(&buffer, round: 1) }
        #expect(member.loans.count == 0)
        #expect(buffer == [Float](repeating: 1, count: 1000))
        try member.reform(rank: 0, members: 1, successor: member.endpoint, epoch: 1)
        try member.allReduce(&buffer, round: 2)
        #expect(buffer == [Float](repeating: 1, count: 1000))
    }

    /// A ring that loses member 2 mid-all-reduce: the survivors abandon it when told to
    /// (`shouldAbort`), re-form as a ring of two under a new epoch and sum again. Member 0's
    /// first segment of the abandoned round is still queued at member 1 and must be dropped,
    /// not added: the sums are exactly those of a fresh two-member ring.
    @Test func aReformedRingDropsTheAbandonedEpochsSegments() throws {
        let count = 101
        let ring = try LocalRing(members: 3)
        for member in ring.members {
            member.segmentValues = 7
            member.smallestSharedSegment = 1
        }
        let deadline = Date().addingTimeInterval(0.3)
        let abandoned = ring.run(ranks: [0, 1]) { member -> Bool in
            member.shouldAbort = { Date() > deadline }
            var buffer = Self.values(member.rank, count)
            do { try member.allReduce(&buffer, round: 9) } catch is RingAllReduce.Aborted { return true }
            return false
        }
        #expect(try abandoned.map { try $0.get() } == [true, true])
        let started = Date()
        let endpoints = ring.members.map(\.endpoint)
        let sums = ring.run(ranks: [0, 1]) { member -> [Float] in
            member.shouldAbort = nil
            try member.reform(rank: member.rank, members: 2, successor: endpoints[1 - member.rank], epoch: 1)
            var buffer = Self.values(member.rank, count)
            try member.allReduce(&buffer, round: 9)
            return buffer
        }
        #expect(Date().timeIntervalSince(started) < 5)
        let plan = RingPlan(members: 2, rank: 0, count: count)
        var expected = [Float](repeating: 0, count: count)
        for c in 0..<2 { for i in plan.chunk(c) { expected[i] = Self.values(c, count)[i] + Self.values(1 - c, count)[i] } }
        for sum in sums { #expect(try sum.get().map(\.bitPattern) == expected.map(\.bitPattern)) }
    }

    /// A segment of an earlier epoch still in flight when a member gets to the next (the
    /// header is 28 bytes: a check for 24 once let every such segment fail the next
    /// all-reduce), and one of a later epoch sent by a predecessor already there: the first
    /// is dropped, the second kept, and the all-reduce of this epoch sums exactly.
    @Test func segmentsOfOtherEpochsNeitherBreakNorEnterAnAllReduce() throws {
        #expect(RingAllReduce.header(phase: .reduceScatter, epoch: 3, round: 1, chunk: 0, offset: 0).count == RingAllReduce.headerBytes)
        #expect(RingAllReduce.epochOrder(65_535, against: 1) == -1 && RingAllReduce.epochOrder(2, against: 65_535) == 1)
        let count = 40
        let ring = try LocalRing(members: 2)
        let endpoints = ring.members.map(\.endpoint)
        let context = try ZMQContext()
        let intruder = try ZMQSocket(context: context, type: .push)
        try intruder.connect(RingAllReduce.reachable(endpoints[1]))
        for epoch: UInt16 in [4, 9] {
            try intruder.send([
                RingAllReduce.header(phase: .reduceScatter, epoch: epoch, round: 7, chunk: 0, offset: 0),
                [UInt8](repeating: 0x7F, count: 4 * count / 2),
            ])
        }
        usleep(100_000)
        let sums = ring.run { member -> [Float] in
            member.timeoutMilliseconds = 5_000
            try member.reform(rank: member.rank, members: 2, successor: endpoints[1 - member.rank], epoch: 5)
            var buffer = Self.values(member.rank, count)
            try member.allReduce(&buffer, round: 7)
            return buffer
        }
        let expected = (0..<count).map { Self.values(0, count)[$0] + Self.values(1, count)[$0] }
        for sum in sums { #expect(try sum.get() == expected) }
    }
}

/// Ring links under `[security]`: CURVE with the workers' key pair.
@Suite struct SecureRingTests {
    static func security(_ pair: CurveKeyPair) throws -> ClusterConfig.Security {
        let other = try CurveKeyPair.generate()
        return ClusterConfig.Security(
            coordinatorPublic: other.publicKey, coordinatorSecret: nil, workerPublic: pair.publicKey,
            workerSecret: pair.secretKey, clientPublic: other.publicKey, clientSecret: nil)
    }

    /// Three members; member 2 holds `intruder`'s keys when given.
    static func run(intruder: CurveKeyPair?) throws -> [Result<[Float], Error>] {
        let workers = try CurveKeyPair.generate()
        let keys = try (0..<3).map { rank in try security(rank == 2 ? (intruder ?? workers) : workers) }
        let ring = try LocalRing(members: 3, security: { keys[$0] }, log: Log("ring", minimum: .error))
        for member in ring.members { member.timeoutMilliseconds = intruder == nil ? 10_000 : 700 }
        return ring.run { member in
            var buffer = [Float](repeating: Float(member.rank + 1), count: 50)
            try member.allReduce(&buffer, round: 0)
            return buffer
        }
    }

    @Test func membersWithTheWorkerKeysSum() throws {
        for result in try Self.run(intruder: nil) { #expect(try result.get() == [Float](repeating: 6, count: 50)) }
    }

    @Test func aMemberWithOtherKeysIsRefusedAndTheRingFailsClearly() throws {
        let results = try Self.run(intruder: try CurveKeyPair.generate())
        // Member 0's data comes from member 2, whose link member 0 refuses.
        do {
            _ = try results[0].get()
            Issue.record("member 0 summed with an intruder")
        } catch let error as TesseraError {
            #expect(error.code == .timeout && error.reason.contains("refused silently"), "\(error)")
        }
    }
}
