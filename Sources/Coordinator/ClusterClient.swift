import Core
import Foundation
import Segmentation
import Shared
import ZeroMQ

/// Talks to a coordinator as a client: submits a slide (uploading it when the coordinator
/// cannot read it in place), follows the job, and fetches the mask and RLE.
public final class ClusterClient {
    public let config: ClusterConfig
    public let endpoint: String
    private let context: ZMQContext
    private let socket: ZMQSocket
    /// Seconds of silence from the coordinator before giving up (before the job is known).
    public var patience: Double
    /// Once the coordinator has accepted the job: seconds of silence before asking for it
    /// again (the coordinator may have restarted; it keeps its jobs), and before giving up.
    public var reattachAfter = 3.0
    public var restartPatience = 300.0

    public init(config: ClusterConfig, endpoint: String? = nil) throws {
        self.config = config
        self.endpoint = endpoint ?? config.clientEndpoint
        context = try ZMQContext()
        socket = try ClusterSockets.dealer(
            context, config: config, endpoint: self.endpoint, role: .client,
            maxMessage: Int64(ClusterSockets.chunkBytes + 65536))
        patience = max(10, config.heartbeatInterval * Double(config.heartbeatLiveness) * 3)
        // Sends never wait long: a coordinator that is not there fails the command instead.
        try socket.setSendTimeout(milliseconds: 10_000)
    }

    /// What a finished job produced on this machine.
    public struct Outcome: Sendable, Equatable {
        public let job: UInt64
        public let finished: Wire.Finished
        public let rle: String?
    }

    /// Submits `slidePath` (or attaches to job `attach`), follows it to the end, writes
    /// the mask to `maskPath`, and returns the RLE text when `wantRLE`.
    public func run(
        slidePath: String?, attach: UInt64?, maskPath: String, wantRLE: Bool, forceUpload: Bool = false, pixelSize: Double? = nil, organ: String? = nil,
        reader: String? = nil,
        progress: (Wire.Progress) -> Void, accepted: (UInt64) -> Void, silent: (Double) -> Void = { _ in }
    ) throws -> Outcome {
        var upload: FileHandle?
        var uploadSize: UInt64 = 0
        defer { try? upload?.close() }
        if let attach {
            try socket.send(WireCodec.frames(.attach, Wire.Attach(job: attach)))
        } else if let slidePath {
            let (size, digest) = try FileDigest.sampled(slidePath)
            let absolute = URL(fileURLWithPath: slidePath).standardizedFileURL.path
            let name = (slidePath as NSString).lastPathComponent
            // An empty path tells the coordinator to fetch the bytes.
            try socket.send(
                WireCodec.frames(
                    .submit,
                    Wire.Submit(
                        name: name, path: forceUpload ? "" : absolute, size: size, digest: digest,
                        pixelSize: pixelSize, organ: organ, reader: reader)))
            upload = FileHandle(forReadingAtPath: slidePath)
            uploadSize = size
        }
        let session = ClientSession(job: attach, upload: upload, uploadSize: uploadSize, maskPath: maskPath, wantRLE: wantRLE) { [socket] frames in
            try socket.send(frames)
        }
        return try follow(
            job: { session.job }, accepted: { session.acceptedOnce }, silent: silent,
            attachHint: { "collect job \($0) with `tessera submit --attach \($0)`" }, command: "submit", noun: "job"
        ) { frames in
            switch try session.handle(frames) {
            case .dropped: return .dropped
            case .heard: return .heard(nil)
            case .accepted(let job): accepted(job)
            case .progress(let message): progress(message)
            case .done(let outcome): return .heard(outcome)
            }
            return .heard(nil)
        }
    }

    /// What one message from the coordinator was to a session: not its, or heard (and, when
    /// everything wanted has arrived, the outcome).
    private enum Heard<Outcome> { case dropped, heard(Outcome?) }

    /// Receives messages for a session until it has its outcome. Before the job is accepted,
    /// silence past `patience` fails; once it is, silence makes it ask for the job again
    /// every `reattachAfter` seconds (a restarted coordinator keeps its jobs and runs), and
    /// fails after `restartPatience` naming how to follow the job later (`attachHint`).
    private func follow<Outcome>(
        job: () -> UInt64?, accepted: () -> Bool, silent: (Double) -> Void, attachHint: (UInt64) -> String,
        command: String, noun: String, handle: ([[UInt8]]) throws -> Heard<Outcome>
    ) throws -> Outcome {
        var lastHeard = Date(), lastAsked = Date()
        while !StopSignal.requested {
            let silence = Date().timeIntervalSince(lastHeard)
            if accepted(), let job = job(), silence > reattachAfter {
                guard silence < restartPatience else {
                    throw TesseraError(endpoint, "no answer from the coordinator for \(Int(silence)) s; if it comes back, \(attachHint(job))")
                }
                if Date().timeIntervalSince(lastAsked) > reattachAfter {
                    silent(silence)
                    try? socket.send(WireCodec.frames(.attach, Wire.Attach(job: job)), dontWait: true)
                    lastAsked = Date()
                }
            } else if !accepted(), silence > patience {
                throw TesseraError(endpoint, "no answer from the coordinator for \(Int(patience)) s\(silenceHint)")
            }
            guard try ZMQPoller.pollIn([socket], timeoutMilliseconds: 100)[0], let frames = try socket.receive(dontWait: true) else { continue }
            switch try handle(frames) {
            case .dropped: continue
            case .heard(let outcome?): return outcome
            case .heard(nil): lastHeard = Date()
            }
        }
        throw TesseraError(command, "interrupted; the \(noun) goes on at the coordinator\(job().map { ": " + attachHint($0) } ?? "")")
    }

    /// Submits a training run (or attaches to run `attach`), follows it to the end and
    /// writes its model to `modelPath`.
    public func train(
        _ submit: Wire.TrainSubmit?, attach: UInt64?, modelPath: String, progress: (Wire.TrainProgress) -> Void,
        accepted: (UInt64) -> Void, silent: (Double) -> Void = { _ in }
    ) throws -> Wire.TrainFinished {
        if let attach {
            try socket.send(WireCodec.frames(.attach, Wire.Attach(job: attach)))
        } else if let submit {
            try socket.send(WireCodec.frames(.trainSubmit, submit))
        }
        let session = TrainingClientSession(job: attach, modelPath: modelPath) { [socket] frames in try socket.send(frames) }
        return try follow(
            job: { session.job }, accepted: { session.acceptedOnce }, silent: silent,
            attachHint: { "follow run \($0) with `tessera train --config … --attach \($0)`" }, command: "train", noun: "run"
        ) { frames in
            switch try session.handle(frames) {
            case .dropped: return .dropped
            case .heard: return .heard(nil)
            case .accepted(let job): accepted(job)
            case .progress(let message): progress(message)
            case .done(let finished): return .heard(finished)
            }
            return .heard(nil)
        }
    }

    /// The coordinator's workers and jobs.
    public func status() throws -> Wire.Status {
        try socket.send(WireCodec.frames(.statusRequest))
        let deadline = Date().addingTimeInterval(patience)
        while Date() < deadline {
            guard try ZMQPoller.pollIn([socket], timeoutMilliseconds: 100)[0], let frames = try socket.receive(dontWait: true) else { continue }
            guard case .success(let (kind, body)) = WireCodec.open(frames), kind == .statusReply,
                case .success(let status) = WireCodec.decode(Wire.Status.self, body[0])
            else { continue }
            return status
        }
        throw TesseraError(endpoint, "no answer from the coordinator for \(Int(patience)) s\(silenceHint)")
    }

    /// What silence may mean beyond a coordinator that is not running: CURVE refuses a key
    /// during the handshake, which a client only sees as no answer.
    private var silenceHint: String {
        config.security == nil ? "" : " (with [security] set, a coordinator that does not accept this machine's client_public key does not answer at all)"
    }

    /// Fetching a finished job's mask (into a partial file, renamed when whole) and RLE.
    package final class Download {
        let job: UInt64
        let finished: Wire.Finished
        let maskPath: String
        let wantRLE: Bool
        var content: Wire.Content = .mask
        var nextOffset: UInt64 = 0
        var outstanding: Set<UInt64> = []
        var received: UInt64 = 0
        /// The mask as it arrives, moved into place when whole.
        let file: PartialFile
        var rle: [UInt8] = []
        var rleText: String? { wantRLE ? String(decoding: rle, as: UTF8.self) : nil }

        init(job: UInt64, finished: Wire.Finished, maskPath: String, wantRLE: Bool) throws {
            self.job = job
            self.finished = finished
            self.maskPath = maskPath
            self.wantRLE = wantRLE
            file = try PartialFile(for: maskPath)
        }

        var total: UInt64 { content == .mask ? finished.maskBytes : finished.rleBytes }

        func request(_ send: ([[UInt8]]) throws -> Void) throws {
            let chunk = UInt64(ClusterSockets.chunkBytes)
            while outstanding.count < 4 && nextOffset < total {
                let size = min(chunk, total - nextOffset)
                try send(WireCodec.frames(.fetch, Wire.Fetch(job: job, content: content, offset: nextOffset, size: size)))
                outstanding.insert(nextOffset)
                nextOffset += size
            }
        }

        /// Stores a chunk; true when everything wanted has arrived.
        func receive(_ chunk: Wire.Chunk, _ bytes: [UInt8], _ send: ([[UInt8]]) throws -> Void) throws -> Bool {
            guard chunk.content == content, outstanding.remove(chunk.offset) != nil else { return false }
            let expected = min(UInt64(ClusterSockets.chunkBytes), total - chunk.offset)
            guard UInt64(bytes.count) == expected else {
                throw TesseraError("job \(job)", "a chunk of the \(content.rawValue) at \(chunk.offset) held \(bytes.count) bytes, not \(expected)")
            }
            if content == .mask {
                try file.write(Data(bytes), at: chunk.offset)
            } else {
                if rle.count < Int(chunk.offset + UInt64(bytes.count)) { rle += [UInt8](repeating: 0, count: Int(chunk.offset) + bytes.count - rle.count) }
                rle.replaceSubrange(Int(chunk.offset)..<(Int(chunk.offset) + bytes.count), with: bytes)
            }
            received += UInt64(bytes.count)
            if received < total || !outstanding.isEmpty {
                try request(send)
                return false
            }
            if content == .mask {
                try file.commit()
                guard wantRLE, finished.rleBytes > 0 else { return true }
                content = .rle
                nextOffset = 0
                received = 0
                try request(send)
                return false
            }
            return true
        }
    }
}
