import Core
import Foundation
import Testing
import ZeroMQ

@testable import Shared

/// Ring segments through shared memory between members on one machine (`SegmentRegion`).
@Suite struct SegmentRegionTests {
    /// Many all-reduces in a row through slots that wrap within each one (a member sends
    /// more segments a round than its region has slots): every sum has the bits of the same
    /// ring passing its segments in messages.
    @Test func slotsReusedRoundAfterRoundCarryTheSameSums() throws {
        func sums(_ transport: LocalRing.Transport) throws -> (sums: [[[UInt32]]], shared: [UInt64]) {
            let results = try RingAllReduceTests.ring(3, segment: 16, transport: transport) { member -> ([[UInt32]], UInt64) in
                let sums = try (0..<25).map { round in
                    var buffer = RingAllReduceTests.values(member.rank + 3 * round, 301)
                    try member.allReduce(&buffer, round: UInt64(round))
                    return buffer.map(\.bitPattern)
                }
                return (sums, member.outboxSent)
            }.map { try $0.get() }
            return (results.map(\.0), results.map(\.1))
        }
        let (shared, slotted) = try sums(.local), (messages, unslotted) = try sums(.localSockets)
        #expect(slotted.allSatisfy { $0 == 25 * 4 * 7 } && unslotted == [0, 0, 0], "segments through slots: \(slotted), \(unslotted)")
        #expect(shared == messages)
        #expect(shared.allSatisfy { $0 == shared[0] })
    }

    /// A predecessor passes segments through shared memory only to a successor it reaches
    /// over ipc whose marker file it sees (the same /dev/shm: containers may have their own).
    @Test func segmentsGoThroughSharedMemoryOnlyWhereBothSeeIt() throws {
        let context = try ZMQContext()
        let successor = try RingAllReduce(context: context, rank: 1, members: 2, bind: "tcp://127.0.0.1:*")
        let member = try RingAllReduce(context: context, rank: 0, members: 2, bind: "tcp://127.0.0.1:*")
        guard let marker = RingAllReduce.sharedMemoryMarker(successor.endpoint) else {
            Issue.record("no marker in \(successor.endpoint)")
            return
        }
        try member.connect(successor: successor.endpoint)
        #expect(member.sharedLink)
        try member.connect(successor: successor.endpoint.replacingOccurrences(of: marker, with: SegmentRegion.prefix + "1-elsewhere"))
        #expect(!member.sharedLink)
        try member.connect(successor: successor.endpoint.split(separator: " ").filter { !$0.hasPrefix("ipc://") }.joined(separator: " "))
        #expect(!member.sharedLink)
        let sockets = try RingAllReduce(context: context, rank: 1, members: 2, bind: "tcp://127.0.0.1:*", sharedMemory: false)
        try member.connect(successor: sockets.endpoint)
        #expect(!member.sharedLink && RingAllReduce.sharedMemoryMarker(sockets.endpoint) == nil)
    }

    /// A member opens only Tessera's region files, whole and well-formed.
    @Test func onlyRingRegionsAreOpened() throws {
        #expect(throws: TesseraError.self) { try SegmentRegion(opening: "/etc/passwd") }
        #expect(throws: TesseraError.self) { try SegmentRegion(opening: "/dev/shm/tessera-ring-1/../../etc/passwd") }
        #expect(throws: TesseraError.self) { try SegmentRegion(opening: "/dev/shm/tessera-ring-\(getpid())-missing") }
        let garbage = SegmentRegion.folder + SegmentRegion.prefix + "\(getpid())-garbage"
        FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 7, count: 200))
        defer { unlink(garbage) }
        #expect(throws: TesseraError.self) { try SegmentRegion(opening: garbage) }
        let region = try SegmentRegion(slots: 3, slotValues: 5)
        let opened = try SegmentRegion(opening: region.path)
        #expect(opened.slots == 3 && opened.slotValues == 5 && opened.consumed == 0)
        region.slot(2)[4] = 42
        opened.markConsumed(through: 6)
        #expect(opened.slot(2)[4] == 42 && region.consumed == 7)
    }

    /// A region's file goes with its writer, and the files of killed processes go with the
    /// next region made on the machine.
    @Test func regionFilesDoNotOutliveTheirProcesses() throws {
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let orphan = SegmentRegion.folder + SegmentRegion.prefix + "\(gone.processIdentifier)-orphan"
        FileManager.default.createFile(atPath: orphan, contents: Data(count: 64))
        var region: SegmentRegion? = try SegmentRegion(slots: 1, slotValues: 1)
        let path = region!.path
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: path))
        region = nil
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A segment reference to no region fails the all-reduce, saying so.
    @Test func aReferenceToNoRegionIsAnError() throws {
        let context = try ZMQContext()
        let member = try RingAllReduce(context: context, rank: 1, members: 2, bind: "tcp://127.0.0.1:*")
        member.timeoutMilliseconds = 2_000
        try member.connect(successor: "tcp://127.0.0.1:1")
        let intruder = try ZMQSocket(context: context, type: .push)
        try intruder.connect(RingAllReduce.reachable(member.endpoint))
        var reference = [UInt8](repeating: 0, count: 16)
        reference[12] = 5  // 5 values in slot 0, sequence 0
        try intruder.send([
            RingAllReduce.header(phase: .reduceScatter, epoch: 0, round: 1, chunk: 0, offset: 0), reference,
            Array((SegmentRegion.folder + SegmentRegion.prefix + "\(getpid())-nothing").utf8),
        ])
        var buffer = [Float](repeating: 1, count: 10)
        #expect {
            try member.allReduce(&buffer, round: 1)
        } throws: { error in
            "\(error)".contains("cannot open the predecessor's region")
        }
    }
}
