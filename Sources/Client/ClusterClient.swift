import Core
import Foundation
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

    /// Submits `slidePath` (or attaches to job `attach`), follows it to the end, writes
    /// the mask to `maskPath`, and returns the RLE text when `wantRLE`.
    public func run(
        slidePath: String?, attach: UInt64?, maskPath: String, wantRLE: Bool, forceUpload: Bool = false, pixelSize: Double? = nil, organ: String? = nil,
        reader: String? = nil,
        progress: (Wire.Progress) -> Void, accepted: (UInt64) -> Void, silent: (Double) -> Void = { _ in }
    ) throws -> ClientOutcome {
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
        var session = ClientSession(job: attach, uploadSize: uploadSize, wantRLE: wantRLE)
        var mask = Download(path: maskPath)
        return try follow(
            job: { session.job }, accepted: { session.acceptedOnce }, silent: silent,
            attachHint: { "collect job \($0) with `tessera submit --attach \($0)`" }, command: "submit", noun: "job"
        ) { frames in
            guard case .heard(let actions) = try session.handle(frames) else { return .dropped }
            return .heard(try perform(actions, file: &mask, upload: upload, accepted: accepted, progress: progress))
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
                    throw TesseraError(endpoint, "no answer from the coordinator for \(Int(silence)) s; if it comes back, \(attachHint(job))", code: .timeout)
                }
                if Date().timeIntervalSince(lastAsked) > reattachAfter {
                    silent(silence)
                    try? socket.send(WireCodec.frames(.attach, Wire.Attach(job: job)), dontWait: true)
                    lastAsked = Date()
                }
            } else if !accepted(), silence > patience {
                throw TesseraError(endpoint, "no answer from the coordinator for \(Int(patience)) s\(silenceHint)", code: .timeout)
            }
            guard try ZMQPoller.pollIn([socket], timeoutMilliseconds: 100)[0], let frames = try socket.receive(dontWait: true) else { continue }
            switch try handle(frames) {
            case .dropped: continue
            case .heard(let outcome?): return outcome
            case .heard(nil): lastHeard = Date()
            }
        }
        throw TesseraError(command, "interrupted; the \(noun) goes on at the coordinator\(job().map { ": " + attachHint($0) } ?? "")", code: .interrupted)
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
        var session = TrainingClientSession(job: attach)
        var model = Download(path: modelPath)
        return try follow(
            job: { session.job }, accepted: { session.acceptedOnce }, silent: silent,
            attachHint: { "follow run \($0) with `tessera train --config … --attach \($0)`" }, command: "train", noun: "run"
        ) { frames in
            guard case .heard(let actions) = try session.handle(frames) else { return .dropped }
            return .heard(try perform(actions, file: &model, upload: nil, accepted: accepted, progress: progress))
        }
    }

    /// A file being fetched: written into a partial file beside `path`, moved there when whole.
    private struct Download {
        let path: String
        var file: PartialFile?
    }

    /// Carries out a session's actions: sends, reads the slide for uploads, writes the file;
    /// the outcome when the session is done.
    private func perform<Progress, Outcome>(
        _ actions: [ClientAction<Progress, Outcome>], file: inout Download, upload: FileHandle?, accepted: (UInt64) -> Void,
        progress: (Progress) -> Void
    ) throws -> Outcome? {
        var outcome: Outcome?
        for action in actions {
            switch action {
            case .send(let frames): try socket.send(frames)
            case .upload(let job, let offset, let size):
                guard let upload else { continue }
                try upload.seek(toOffset: offset)
                let data = try upload.read(upToCount: Int(size)) ?? Data()
                try socket.send(WireCodec.frames(.chunk, Wire.Chunk(job: job, content: .slide, offset: offset), payload: [UInt8](data)))
            case .createFile: file.file = try PartialFile(for: file.path)
            case .write(let bytes, let offset): try file.file?.write(Data(bytes), at: offset)
            case .commitFile:
                try file.file?.commit()
                file.file = nil
            case .accepted(let job): accepted(job)
            case .progress(let message): progress(message)
            case .done(let done): outcome = done
            }
        }
        return outcome
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
        throw TesseraError(endpoint, "no answer from the coordinator for \(Int(patience)) s\(silenceHint)", code: .timeout)
    }

    /// What silence may mean beyond a coordinator that is not running: CURVE refuses a key
    /// during the handshake, which a client only sees as no answer.
    private var silenceHint: String {
        config.security == nil ? "" : " (with [security] set, a coordinator that does not accept this machine's client_public key does not answer at all)"
    }
}
