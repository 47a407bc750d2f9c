import Core
import Foundation
import Shared

/// What `tessera train --config` does with each message from the coordinator
/// (docs/PROTOCOL.md, "Training"): follows the run's progress, and once it is finished
/// fetches its model into a partial file renamed when whole. Sockets and timing stay with
/// `ClusterClient`; malformed or unrelated messages are dropped; `failed` and `error` end
/// the session with their reason.
package final class TrainingClientSession {
    package enum Event: Equatable {
        case dropped
        case heard
        case accepted(UInt64)
        case progress(Wire.TrainProgress)
        /// The model is at the path asked for.
        case done(Wire.TrainFinished)
    }

    package private(set) var job: UInt64?
    package private(set) var acceptedOnce = false
    private let modelPath: String
    private var finished: Wire.TrainFinished?
    /// The model as it arrives, moved into place when whole.
    private var file: PartialFile?
    private var nextOffset: UInt64 = 0
    private var outstanding: Set<UInt64> = []
    private var received: UInt64 = 0
    private let send: ([[UInt8]]) throws -> Void

    package init(job: UInt64?, modelPath: String, send: @escaping ([[UInt8]]) throws -> Void) {
        self.job = job
        self.modelPath = modelPath
        self.send = send
    }

    package func handle(_ frames: [[UInt8]]) throws -> Event {
        guard case .success(let (kind, body)) = WireCodec.open(frames) else { return .dropped }
        switch kind {
        case .accepted:
            guard case .success(let message) = WireCodec.decode(Wire.Accepted.self, body[0]), job == nil || message.job == job else { return .dropped }
            let first = !acceptedOnce
            acceptedOnce = true
            job = message.job
            return first ? .accepted(message.job) : .heard
        case .trainProgress:
            guard case .success(let message) = WireCodec.decode(Wire.TrainProgress.self, body[0]), message.job == job else { return .dropped }
            return .progress(message)
        case .trainFinished:
            guard case .success(let message) = WireCodec.decode(Wire.TrainFinished.self, body[0]), message.job == job else { return .dropped }
            guard finished == nil else { return .heard }
            file = try PartialFile(for: modelPath)
            finished = message
            try request()
            return .heard
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]), chunk.job == job, chunk.content == .model,
                let finished, let file, outstanding.remove(chunk.offset) != nil
            else { return .dropped }
            let expected = min(UInt64(ClusterSockets.chunkBytes), finished.modelBytes - chunk.offset)
            guard UInt64(body[1].count) == expected else {
                throw TesseraError("run \(finished.job)", "a chunk of the model at \(chunk.offset) held \(body[1].count) bytes, not \(expected)")
            }
            try file.write(Data(body[1]), at: chunk.offset)
            received += expected
            guard received == finished.modelBytes else {
                try request()
                return .heard
            }
            try file.commit()
            self.file = nil
            return .done(finished)
        case .failed:
            guard case .success(let failed) = WireCodec.decode(Wire.Failed.self, body[0]), failed.job == job else { return .dropped }
            throw TesseraError("training run \(failed.job)", "failed: \(failed.reason)")
        case .error:
            guard case .success(let error) = WireCodec.decode(Wire.Reason.self, body[0]) else { return .dropped }
            throw TesseraError("coordinator", error.reason)
        default:
            return .dropped
        }
    }

    /// Keeps up to four fetches of the model outstanding.
    private func request() throws {
        guard let finished else { return }
        let chunk = UInt64(ClusterSockets.chunkBytes)
        while outstanding.count < 4 && nextOffset < finished.modelBytes {
            let size = min(chunk, finished.modelBytes - nextOffset)
            try send(WireCodec.frames(.fetch, Wire.Fetch(job: finished.job, content: .model, offset: nextOffset, size: size)))
            outstanding.insert(nextOffset)
            nextOffset += size
        }
    }
}
