import Client
import Core
import Shared
import Testing

/// A client's decisions without sockets or files: what it sends, reads and writes for each
/// message from the coordinator.
@Suite struct ClientSessionTests {
    static let chunk = UInt64(ClusterSockets.chunkBytes)

    func fetch(_ job: UInt64, _ content: Wire.Content, _ offset: UInt64, _ size: UInt64) -> ClientSession.Action {
        .send(WireCodec.frames(.fetch, Wire.Fetch(job: job, content: content, offset: offset, size: size)))
    }

    func chunk(_ job: UInt64, _ content: Wire.Content, _ offset: UInt64, _ count: Int, byte: UInt8 = 1) -> [[UInt8]] {
        WireCodec.frames(.chunk, Wire.Chunk(job: job, content: content, offset: offset), payload: [UInt8](repeating: byte, count: count))
    }

    @Test func aSubmittedSlideIsUploadedThenTheMaskAndRLEAreFetchedInOrder() throws {
        var session = ClientSession(job: nil, uploadSize: 3 * Self.chunk + 5, wantRLE: true)
        #expect(try session.handle(WireCodec.frames(.accepted, Wire.Accepted(job: 7, upload: true))) == .heard([.accepted(7)]))
        // The coordinator fetches the slide; the last fetch is cut at the slide's end.
        #expect(
            try session.handle(WireCodec.frames(.fetch, Wire.Fetch(job: 7, content: .slide, offset: 3 * Self.chunk, size: Self.chunk)))
                == .heard([.upload(job: 7, offset: 3 * Self.chunk, size: 5)]))
        #expect(try session.handle(WireCodec.frames(.fetch, Wire.Fetch(job: 7, content: .slide, offset: 4 * Self.chunk, size: 1))) == .dropped)
        #expect(try session.handle(WireCodec.frames(.fetch, Wire.Fetch(job: 8, content: .slide, offset: 0, size: 1))) == .dropped)

        // A 5-chunk mask: four fetches outstanding, the fifth once one has arrived.
        let maskBytes = 4 * Self.chunk + 10
        let finished = Wire.Finished(job: 7, width: 10, height: 10, foregroundPixels: 3, maskBytes: maskBytes, rleBytes: 4)
        #expect(
            try session.handle(WireCodec.frames(.finished, finished))
                == .heard([.createFile] + (0..<4).map { fetch(7, .mask, UInt64($0) * Self.chunk, Self.chunk) }))
        #expect(try session.handle(WireCodec.frames(.finished, finished)) == .heard([]))
        #expect(
            try session.handle(chunk(7, .mask, Self.chunk, Int(Self.chunk)))
                == .heard([.write([UInt8](repeating: 1, count: Int(Self.chunk)), at: Self.chunk), fetch(7, .mask, 4 * Self.chunk, 10)]))
        // A duplicate is heard and ignored; another job's chunk is dropped.
        #expect(try session.handle(chunk(7, .mask, Self.chunk, Int(Self.chunk))) == .heard([]))
        #expect(try session.handle(chunk(8, .mask, 0, Int(Self.chunk))) == .dropped)
        for offset in [0, 2, 3].map({ UInt64($0) * Self.chunk }) {
            #expect(
                try session.handle(chunk(7, .mask, offset, Int(Self.chunk))) == .heard([.write([UInt8](repeating: 1, count: Int(Self.chunk)), at: offset)]))
        }
        // The mask's last chunk: committed, then the RLE asked for.
        #expect(
            try session.handle(chunk(7, .mask, 4 * Self.chunk, 10))
                == .heard([.write([UInt8](repeating: 1, count: 10), at: 4 * Self.chunk), .commitFile, fetch(7, .rle, 0, 4)]))
        let rle = WireCodec.frames(.chunk, Wire.Chunk(job: 7, content: .rle, offset: 0), payload: Array("1 2\n".utf8))
        #expect(try session.handle(rle) == .heard([.done(ClientOutcome(job: 7, finished: finished, rle: "1 2\n"))]))
    }

    @Test func aChunkOfTheWrongSizeFailsTheSession() throws {
        var session = ClientSession(job: 3, wantRLE: false)
        let finished = Wire.Finished(job: 3, width: 1, height: 1, foregroundPixels: 0, maskBytes: 100, rleBytes: 0)
        #expect(try session.handle(WireCodec.frames(.finished, finished)) == .heard([.createFile, fetch(3, .mask, 0, 100)]))
        #expect { try session.handle(chunk(3, .mask, 0, 99)) } throws: { ($0 as? TesseraError)?.code == .mismatch }
    }

    @Test func withoutRLETheMaskEndsIt() throws {
        var session = ClientSession(job: 3, wantRLE: false)
        let finished = Wire.Finished(job: 3, width: 1, height: 1, foregroundPixels: 0, maskBytes: 2, rleBytes: 9)
        _ = try session.handle(WireCodec.frames(.finished, finished))
        #expect(
            try session.handle(chunk(3, .mask, 0, 2))
                == .heard([.write([1, 1], at: 0), .commitFile, .done(ClientOutcome(job: 3, finished: finished, rle: nil))]))
    }

    @Test func acceptedAgainAfterARestartFetchesTheMaskAgain() throws {
        var session = ClientSession(job: 5, wantRLE: false)
        let finished = Wire.Finished(job: 5, width: 1, height: 1, foregroundPixels: 0, maskBytes: 2, rleBytes: 0)
        _ = try session.handle(WireCodec.frames(.finished, finished))
        #expect(try session.handle(WireCodec.frames(.accepted, Wire.Accepted(job: 5, upload: false))) == .heard([.accepted(5)]))
        #expect(try session.handle(WireCodec.frames(.accepted, Wire.Accepted(job: 5, upload: false))) == .heard([]))
        #expect(try session.handle(WireCodec.frames(.finished, finished)) == .heard([.createFile, fetch(5, .mask, 0, 2)]))
        // An attaching client uploads nothing.
        #expect(try session.handle(WireCodec.frames(.fetch, Wire.Fetch(job: 5, content: .slide, offset: 0, size: 1))) == .dropped)
    }

    @Test func failedAndErrorEndTheSessionWithTheirReason() throws {
        var session = ClientSession(job: 4, wantRLE: false)
        #expect(try session.handle(WireCodec.frames(.failed, Wire.Failed(job: 9, reason: "other"))) == .dropped)
        #expect(throws: TesseraError("job 4", "failed: no tissue", code: .refused)) {
            try session.handle(WireCodec.frames(.failed, Wire.Failed(job: 4, reason: "no tissue")))
        }
        #expect(throws: TesseraError("coordinator", "busy", code: .refused)) { try session.handle(WireCodec.frames(.error, Wire.Reason("busy"))) }
        #expect(try session.handle([[1, 2, 3]]) == .dropped)
    }

    @Test func aTrainingClientFetchesTheModelAndCommitsItWhole() throws {
        var session = TrainingClientSession(job: nil)
        #expect(try session.handle(WireCodec.frames(.accepted, Wire.Accepted(job: 2, upload: false))) == .heard([.accepted(2)]))
        let finished = Wire.TrainFinished(job: 2, steps: 10, dice: nil, modelBytes: Self.chunk + 1)
        let fetches: [TrainingClientSession.Action] = [
            .send(WireCodec.frames(.fetch, Wire.Fetch(job: 2, content: .model, offset: 0, size: Self.chunk))),
            .send(WireCodec.frames(.fetch, Wire.Fetch(job: 2, content: .model, offset: Self.chunk, size: 1))),
        ]
        #expect(try session.handle(WireCodec.frames(.trainFinished, finished)) == .heard([.createFile] + fetches))
        #expect(try session.handle(chunk(2, .model, Self.chunk, 1)) == .heard([.write([1], at: Self.chunk)]))
        #expect(try session.handle(chunk(2, .model, Self.chunk, 1)) == .dropped)
        #expect(try session.handle(chunk(2, .mask, 0, 1)) == .dropped)
        #expect(
            try session.handle(chunk(2, .model, 0, Int(Self.chunk)))
                == .heard([.write([UInt8](repeating: 1, count: Int(Self.chunk)), at: 0), .commitFile, .done(finished)]))
        #expect(throws: TesseraError.self) { try session.handle(WireCodec.frames(.failed, Wire.Failed(job: 2, reason: "x"))) }
    }
}
