import Core
import Foundation
import Segmentation
import Shared

/// What a client does with each message from the coordinator (docs/PROTOCOL.md, "Client
/// link"): answers fetches of its slide, follows progress, downloads the mask and RLE.
/// Sockets and timing stay with `ClusterClient`; this part sees only frames, so it is
/// fuzzed alone. Malformed or unrelated messages are dropped; `failed` and `error` end the
/// session with their reason.
package final class ClientSession {
    package enum Event: Equatable {
        /// Not for this session, or malformed.
        case dropped
        /// Counted as a sign of life, nothing more.
        case heard
        /// The coordinator accepted the job (the first time only).
        case accepted(UInt64)
        case progress(Wire.Progress)
        /// Everything wanted has arrived.
        case done(ClusterClient.Outcome)
    }

    package private(set) var job: UInt64?
    package private(set) var acceptedOnce = false
    private let upload: FileHandle?
    private let uploadSize: UInt64
    private let maskPath: String
    private let wantRLE: Bool
    private var download: ClusterClient.Download?
    private let send: ([[UInt8]]) throws -> Void

    /// `job` when attaching; `upload` the slide's bytes (`uploadSize` of them) when submitting.
    package init(
        job: UInt64?, upload: FileHandle?, uploadSize: UInt64 = 0, maskPath: String, wantRLE: Bool,
        send: @escaping ([[UInt8]]) throws -> Void
    ) {
        self.job = job
        self.upload = upload
        self.uploadSize = uploadSize
        self.maskPath = maskPath
        self.wantRLE = wantRLE
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
            download = nil  // accepted again after a restart: the mask comes again
            return first ? .accepted(message.job) : .heard
        case .fetch:
            guard case .success(let fetch) = WireCodec.decode(Wire.Fetch.self, body[0]), fetch.job == job, fetch.content == .slide,
                let upload, fetch.offset < uploadSize
            else { return .dropped }
            try upload.seek(toOffset: fetch.offset)
            let data = try upload.read(upToCount: Int(fetch.size)) ?? Data()
            try send(WireCodec.frames(.chunk, Wire.Chunk(job: fetch.job, content: .slide, offset: fetch.offset), payload: [UInt8](data)))
            return .heard
        case .progress:
            guard case .success(let message) = WireCodec.decode(Wire.Progress.self, body[0]), message.job == job else { return .dropped }
            return .progress(message)
        case .finished:
            guard case .success(let finished) = WireCodec.decode(Wire.Finished.self, body[0]), finished.job == job else { return .dropped }
            guard download == nil else { return .heard }
            download = try ClusterClient.Download(job: finished.job, finished: finished, maskPath: maskPath, wantRLE: wantRLE)
            try download!.request(send)
            return .heard
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]), let current = download, chunk.job == job else { return .dropped }
            if try current.receive(chunk, body[1], send) {
                return .done(ClusterClient.Outcome(job: current.job, finished: current.finished, rle: current.rleText))
            }
            return .heard
        case .failed:
            guard case .success(let failed) = WireCodec.decode(Wire.Failed.self, body[0]), failed.job == job else { return .dropped }
            throw TesseraError("job \(failed.job)", "failed: \(failed.reason)")
        case .error:
            guard case .success(let error) = WireCodec.decode(Wire.Reason.self, body[0]) else { return .dropped }
            throw TesseraError("coordinator", error.reason)
        default:
            return .dropped
        }
    }
}
