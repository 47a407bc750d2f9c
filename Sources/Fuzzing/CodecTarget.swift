import Core
import Shared

/// Fuzzes `WireCodec` alone: every frame sequence is opened and its body decoded as its
/// kind says; whatever decodes must encode back to frames that decode to the same value.
/// A trap, or a value that does not survive the round trip, is a finding.
enum CodecTarget {
    static func run(_ input: FuzzInput) {
        for message in input.messages {
            guard case .success(let (kind, body)) = WireCodec.open(message.frames) else { continue }
            switch kind {
            case .register: roundTrip(kind, Wire.Register.self, body)
            case .welcome: roundTrip(kind, Wire.Welcome.self, body)
            case .refuse, .error: roundTrip(kind, Wire.Reason.self, body)
            case .tileFailed: roundTrip(kind, Wire.TileFailure.self, body)
            case .submit: roundTrip(kind, Wire.Submit.self, body)
            case .accepted: roundTrip(kind, Wire.Accepted.self, body)
            case .fetch: roundTrip(kind, Wire.Fetch.self, body)
            case .chunk: roundTrip(kind, Wire.Chunk.self, body, payload: body[1])
            case .progress: roundTrip(kind, Wire.Progress.self, body)
            case .finished: roundTrip(kind, Wire.Finished.self, body)
            case .failed: roundTrip(kind, Wire.Failed.self, body)
            case .attach: roundTrip(kind, Wire.Attach.self, body)
            case .statusReply: roundTrip(kind, Wire.Status.self, body)
            case .trainSubmit: roundTrip(kind, Wire.TrainSubmit.self, body)
            case .trainProgress: roundTrip(kind, Wire.TrainProgress.self, body)
            case .trainFinished: roundTrip(kind, Wire.TrainFinished.self, body)
            case .trainJoin: roundTrip(kind, Wire.TrainJoin.self, body)
            case .trainReady: roundTrip(kind, Wire.TrainReady.self, body)
            case .trainStep: roundTrip(kind, Wire.TrainStep.self, body)
            case .trainDone: roundTrip(kind, Wire.TrainDone.self, body)
            case .trainSave: roundTrip(kind, Wire.TrainSave.self, body)
            case .trainStop: roundTrip(kind, Wire.TrainStop.self, body)
            case .trainFailed: roundTrip(kind, Wire.TrainFailed.self, body)
            case .trainState:
                guard case .success(let (header, weights, optimizer, model)) = WireCodec.trainState(body) else { continue }
                let again = WireCodec.open(WireCodec.frames(header, weights: weights, optimizer: optimizer, model: model)).flatMap {
                    WireCodec.trainState($0.1)
                }
                fuzzCheck(
                    (try? again.get()).map { $0.0 == header && $0.1 == weights && $0.2 == optimizer && $0.3 == model } == true,
                    "a training state does not survive encoding")
            case .heartbeat, .goodbye, .registerAgain, .statusRequest:
                fuzzCheck(WireCodec.frames(kind) == message.frames, "\(kind) does not re-encode to its frames")
            case .tile:
                guard case .success(let (tile, pixels)) = WireCodec.tile(body, maxSize: WireLimits.tileSide.upperBound) else { continue }
                let again = WireCodec.open(WireCodec.frames(tile, pixels: pixels)).flatMap { WireCodec.tile($0.1, maxSize: WireLimits.tileSide.upperBound) }
                fuzzCheck((try? again.get()).map { $0.0 == tile && $0.1 == pixels } == true, "a tile does not survive encoding")
            case .result:
                guard case .success(let (result, map)) = WireCodec.result(body) else { continue }
                let again = WireCodec.open(WireCodec.frames(result, map: map)).flatMap { WireCodec.result($0.1) }
                fuzzCheck((try? again.get()).map { $0.0 == result && $0.1 == map } == true, "a result does not survive encoding")
            }
        }
    }

    private static func roundTrip<T: WireBody & Equatable>(_ kind: WireKind, _ type: T.Type, _ body: [[UInt8]], payload: [UInt8]? = nil) {
        guard case .success(let value) = WireCodec.decode(T.self, body[0]) else { return }
        let frames = WireCodec.frames(kind, value, payload: payload)
        let again = WireCodec.open(frames).flatMap { WireCodec.decode(T.self, $0.1[0]) }
        fuzzCheck((try? again.get()) == value, "\(kind) does not survive encoding: \(value)")
    }
}
