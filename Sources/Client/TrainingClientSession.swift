import Core
import Shared

/// What `tessera train --config` decides on each message from the coordinator
/// (docs/PROTOCOL.md, "Training"): follows the run's progress, and once it is finished
/// fetches its model. A value without I/O: it returns actions, and `ClusterClient` writes
/// the model's partial file (renamed when whole) and sends. Malformed or unrelated messages
/// are dropped; `failed` and `error` end the session with their reason.
package struct TrainingClientSession {
    package typealias Action = ClientAction<Wire.TrainProgress, Wire.TrainFinished>

    package enum Handled: Equatable {
        case dropped
        case heard([Action])
    }

    private var acceptance: JobAcceptance
    package var job: UInt64? { acceptance.job }
    package var acceptedOnce: Bool { acceptance.acceptedOnce }
    private var finished: Wire.TrainFinished?
    private var fetch: ChunkedFetch?

    package init(job: UInt64?) { acceptance = JobAcceptance(job: job) }

    package mutating func handle(_ frames: [[UInt8]]) throws -> Handled {
        guard case .success(let (kind, body)) = WireCodec.open(frames) else { return .dropped }
        switch kind {
        case .accepted:
            guard let first = acceptance.accept(body[0]) else { return .dropped }
            return .heard(first ? [.accepted(job!)] : [])
        case .trainProgress:
            guard case .success(let message) = WireCodec.decode(Wire.TrainProgress.self, body[0]), message.job == job else { return .dropped }
            return .heard([.progress(message)])
        case .trainFinished:
            guard case .success(let message) = WireCodec.decode(Wire.TrainFinished.self, body[0]), message.job == job else { return .dropped }
            guard finished == nil else { return .heard([]) }
            finished = message
            fetch = ChunkedFetch(job: message.job, content: .model, total: message.modelBytes)
            return .heard([.createFile] + advance())
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]), chunk.job == job, chunk.content == .model,
                var current = fetch, try current.accept(offset: chunk.offset, count: body[1].count)
            else { return .dropped }
            fetch = current
            return .heard([.write(body[1], at: chunk.offset)] + advance())
        default:
            if let ending = acceptance.ending(kind, body[0], noun: "training run") { throw ending }
            return .dropped
        }
    }

    /// The next fetches, or the end once the model is whole.
    private mutating func advance() -> [Action] {
        guard var current = fetch, let finished else { return [] }
        guard current.isComplete else {
            let requests = current.requests()
            fetch = current
            return requests.map { .send(WireCodec.frames(.fetch, $0)) }
        }
        fetch = nil
        return [.commitFile, .done(finished)]
    }
}
