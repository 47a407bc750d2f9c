import Core
import Shared

/// What `tessera train --config` decides on each message from the coordinator
/// (docs/PROTOCOL.md, "Training"): follows the run's progress, and once it is finished
/// fetches its model. A value without I/O: it returns actions, and `ClusterClient` writes
/// the model's partial file (renamed when whole) and sends. Malformed or unrelated messages
/// are dropped; `failed` and `error` end the session with their reason.
package struct TrainingClientSession {
    package enum Action: Equatable {
        case send([[UInt8]])
        /// Start the model: a partial file beside its path.
        case createModel
        case writeModel([UInt8], at: UInt64)
        /// The model is whole: move it into place.
        case commitModel
        case accepted(UInt64)
        case progress(Wire.TrainProgress)
        /// The model is at the path asked for.
        case done(Wire.TrainFinished)
    }

    package enum Handled: Equatable {
        case dropped
        case heard([Action])
    }

    package private(set) var job: UInt64?
    package private(set) var acceptedOnce = false
    private var finished: Wire.TrainFinished?
    private var fetch: ChunkedFetch?

    package init(job: UInt64?) { self.job = job }

    package mutating func handle(_ frames: [[UInt8]]) throws -> Handled {
        guard case .success(let (kind, body)) = WireCodec.open(frames) else { return .dropped }
        switch kind {
        case .accepted:
            guard case .success(let message) = WireCodec.decode(Wire.Accepted.self, body[0]), job == nil || message.job == job else { return .dropped }
            let first = !acceptedOnce
            acceptedOnce = true
            job = message.job
            return .heard(first ? [.accepted(message.job)] : [])
        case .trainProgress:
            guard case .success(let message) = WireCodec.decode(Wire.TrainProgress.self, body[0]), message.job == job else { return .dropped }
            return .heard([.progress(message)])
        case .trainFinished:
            guard case .success(let message) = WireCodec.decode(Wire.TrainFinished.self, body[0]), message.job == job else { return .dropped }
            guard finished == nil else { return .heard([]) }
            finished = message
            fetch = ChunkedFetch(job: message.job, content: .model, total: message.modelBytes)
            return .heard([.createModel] + advance())
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]), chunk.job == job, chunk.content == .model,
                var current = fetch, try current.accept(offset: chunk.offset, count: body[1].count)
            else { return .dropped }
            fetch = current
            return .heard([.writeModel(body[1], at: chunk.offset)] + advance())
        case .failed:
            guard case .success(let failed) = WireCodec.decode(Wire.Failed.self, body[0]), failed.job == job else { return .dropped }
            throw TesseraError("training run \(failed.job)", "failed: \(failed.reason)", code: .refused)
        case .error:
            guard case .success(let error) = WireCodec.decode(Wire.Reason.self, body[0]) else { return .dropped }
            throw TesseraError("coordinator", error.reason, code: .refused)
        default:
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
        return [.commitModel, .done(finished)]
    }
}
