import Core
import Shared

/// What a client decides on each message from the coordinator (docs/PROTOCOL.md, "Client
/// link"): answers fetches of its slide, follows progress, downloads the mask and RLE. A
/// value without I/O: it returns actions, and `ClusterClient` moves the bytes (reads the
/// slide, writes the mask's partial file, sends); so it is unit-tested and fuzzed alone.
/// Malformed or unrelated messages are dropped; `failed` and `error` end the session with
/// their reason.
package struct ClientSession {
    package typealias Action = ClientAction<Wire.Progress, ClientOutcome>

    /// What a message was to the session: not its (or malformed), or heard, with what to do.
    package enum Handled: Equatable {
        case dropped
        case heard([Action])
    }

    private var acceptance: JobAcceptance
    package var job: UInt64? { acceptance.job }
    package var acceptedOnce: Bool { acceptance.acceptedOnce }
    private let uploadSize: UInt64
    private let wantRLE: Bool
    private var finished: Wire.Finished?
    private var fetch: ChunkedFetch?
    private var rle: [UInt8] = []

    /// `job` when attaching; `uploadSize` the slide's size when submitting one the
    /// coordinator may fetch.
    package init(job: UInt64?, uploadSize: UInt64 = 0, wantRLE: Bool) {
        acceptance = JobAcceptance(job: job)
        self.uploadSize = uploadSize
        self.wantRLE = wantRLE
    }

    package mutating func handle(_ frames: [[UInt8]]) throws -> Handled {
        guard case .success(let (kind, body)) = WireCodec.open(frames) else { return .dropped }
        switch kind {
        case .accepted:
            guard let first = acceptance.accept(body[0]) else { return .dropped }
            // Accepted again after a restart: the mask comes again.
            finished = nil
            fetch = nil
            return .heard(first ? [.accepted(job!)] : [])
        case .fetch:
            guard case .success(let request) = WireCodec.decode(Wire.Fetch.self, body[0]), request.job == job, request.content == .slide,
                request.offset < uploadSize
            else { return .dropped }
            return .heard([.upload(job: request.job, offset: request.offset, size: min(request.size, uploadSize - request.offset))])
        case .progress:
            guard case .success(let message) = WireCodec.decode(Wire.Progress.self, body[0]), message.job == job else { return .dropped }
            return .heard([.progress(message)])
        case .finished:
            guard case .success(let message) = WireCodec.decode(Wire.Finished.self, body[0]), message.job == job else { return .dropped }
            guard finished == nil else { return .heard([]) }
            finished = message
            rle = []
            fetch = ChunkedFetch(job: message.job, content: .mask, total: message.maskBytes)
            return .heard([.createFile] + advance())
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]), chunk.job == job, var current = fetch else { return .dropped }
            // A chunk not asked for (a duplicate) is a sign of life, nothing more.
            guard chunk.content == current.content, try current.accept(offset: chunk.offset, count: body[1].count) else { return .heard([]) }
            fetch = current
            var actions: [Action] = []
            if chunk.content == .mask {
                actions.append(.write(body[1], at: chunk.offset))
            } else {
                Self.place(body[1], at: chunk.offset, in: &rle)
            }
            return .heard(actions + advance())
        default:
            if let ending = acceptance.ending(kind, body[0], noun: "job") { throw ending }
            return .dropped
        }
    }

    /// The next fetches, or the next content once one is whole: the mask, then the RLE when
    /// wanted, then done.
    private mutating func advance() -> [Action] {
        guard var current = fetch, let finished else { return [] }
        guard current.isComplete else {
            let requests = current.requests()
            fetch = current
            return requests.map { .send(WireCodec.frames(.fetch, $0)) }
        }
        if current.content == .mask {
            if wantRLE && finished.rleBytes > 0 {
                fetch = ChunkedFetch(job: finished.job, content: .rle, total: finished.rleBytes)
                return [.commitFile] + advance()
            }
            fetch = nil
            return [.commitFile, .done(outcome(finished))]
        }
        fetch = nil
        return [.done(outcome(finished))]
    }

    private func outcome(_ finished: Wire.Finished) -> ClientOutcome {
        ClientOutcome(job: finished.job, finished: finished, rle: wantRLE ? String(decoding: rle, as: UTF8.self) : nil)
    }

    private static func place(_ bytes: [UInt8], at offset: UInt64, in buffer: inout [UInt8]) {
        let start = Int(offset), end = start + bytes.count
        if buffer.count < end { buffer += [UInt8](repeating: 0, count: end - buffer.count) }
        buffer.replaceSubrange(start..<end, with: bytes)
    }
}

/// What a finished job produced on this machine.
public struct ClientOutcome: Sendable, Equatable {
    public let job: UInt64
    public let finished: Wire.Finished
    public let rle: String?

    package init(job: UInt64, finished: Wire.Finished, rle: String?) {
        self.job = job
        self.finished = finished
        self.rle = rle
    }
}
