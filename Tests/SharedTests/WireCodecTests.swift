import Core
import Testing
import Tiling

@testable import Segmentation
@testable import Shared

@Suite struct WireCodecTests {
    @Test func tilesAndResultsRoundTrip() throws {
        let request = Wire.TileRequest(
            job: 1 << 40, request: 77, row: 3, column: 4_000_000, size: 16, encoding: .float16, flips: .hv,
            inset: 3)
        let pixels = (0..<(16 * 16 * 3)).map { UInt8(truncatingIfNeeded: $0) }
        let frames = WireCodec.frames(request, pixels: pixels)
        guard case .success(let (kind, body)) = WireCodec.open(frames), kind == .tile,
            case .success(let (decoded, decodedPixels)) = WireCodec.tile(body, maxSize: 16)
        else {
            Issue.record("tile did not decode"); return
        }
        #expect(decoded == request && decodedPixels == pixels)
        #expect(throws: WireError.self) { try WireCodec.tile(body, maxSize: 8).get() }
        // From a pyramid level: 8² pixels at 1 µm for a 16² map; sizes must agree, P be a size.
        let reduced = Wire.TileRequest(
            job: 1, request: 2, row: 0, column: 0, size: 8, encoding: .uint8, flips: .none, inset: 2, mapSize: 16,
            pixelSize: 1.0)
        let reducedBody = Array(WireCodec.frames(reduced, pixels: [UInt8](repeating: 1, count: 8 * 8 * 3)).dropFirst())
        #expect(try WireCodec.tile(reducedBody, maxSize: 16).get().0 == reduced)
        for flawed in [
            Wire.TileRequest(job: 1, request: 2, row: 0, column: 0, size: 8, encoding: .uint8, flips: .none, mapSize: 4),
            Wire.TileRequest(job: 1, request: 2, row: 0, column: 0, size: 8, encoding: .uint8, flips: .none, pixelSize: -1),
            Wire.TileRequest(job: 1, request: 2, row: 0, column: 0, size: 8, encoding: .uint8, flips: .none, pixelSize: .nan),
            Wire.TileRequest(job: 1, request: 2, row: 0, column: 0, size: 8, encoding: .uint8, flips: .none, inset: 6, mapSize: 12),
        ] {
            let body = Array(WireCodec.frames(flawed, pixels: [UInt8](repeating: 1, count: 8 * 8 * 3)).dropFirst())
            #expect(throws: WireError.self) { try WireCodec.tile(body, maxSize: 16).get() }
        }

        let result = Wire.TileResult(job: 5, request: 77, row: 3, column: 4, size: 16, encoding: .uint8, inset: 3)
        let map = [UInt8](repeating: 9, count: 100)  // (16 − 2·3)²
        guard case .success(let (_, resultBody)) = WireCodec.open(WireCodec.frames(result, map: map)),
            case .success(let (decodedResult, decodedMap)) = WireCodec.result(resultBody)
        else {
            Issue.record("result did not decode"); return
        }
        #expect(decodedResult == result && decodedMap == map)
        // A map of the whole tile where the inset promised less, and an inset leaving nothing.
        let whole = WireCodec.frames(result, map: [UInt8](repeating: 9, count: 256))
        #expect(throws: WireError.self) { try WireCodec.result(Array(whole.dropFirst())).get() }
        var empty = result
        empty.inset = 8
        #expect(throws: WireError.self) { try WireCodec.result(Array(WireCodec.frames(empty, map: []).dropFirst())).get() }
    }

    @Test func controlMessagesRoundTrip() throws {
        let submit = Wire.Submit(name: "a.tiff", path: "/x/a.tiff", size: 123, digest: "00ff00ff00ff00FF")
        guard case .success(let (kind, body)) = WireCodec.open(WireCodec.frames(.submit, submit)) else { Issue.record("no"); return }
        #expect(kind == .submit)
        #expect(try WireCodec.decode(Wire.Submit.self, body[0]).get() == submit)
        let given = Wire.Submit(name: "a.tiff", path: "", size: 1, digest: "00ff00ff00ff00ff", pixelSize: 0.25)
        #expect(try WireCodec.decode(Wire.Submit.self, WireCodec.frames(.submit, given)[1]).get() == given)
        #expect(Wire.Submit(name: "a", path: "", size: 1, digest: "00ff00ff00ff00ff", pixelSize: 0).flaw != nil)
    }

    @Test func trainingMessagesRoundTripAndAreChecked() throws {
        let settings = #"{"architecture":"effunet-b0","steps":200,"batch":8,"checkpointEvery":50,"validateEvery":29,"lr":0.001}"#
        let submit = Wire.TrainSubmit(name: "data", member: "b0", data: "/shared/data", weights: nil, settings: settings)
        guard case .success(let (kind, body)) = WireCodec.open(WireCodec.frames(.trainSubmit, submit)) else { Issue.record("no"); return }
        #expect(kind == .trainSubmit)
        #expect(try WireCodec.decode(Wire.TrainSubmit.self, body[0]).get() == submit)
        #expect(
            TrainingPlan(json: settings) == TrainingPlan(json: #"{"architecture":"effunet-b0","steps":200,"batch":8,"checkpointEvery":50,"validateEvery":29}"#))
        var bad = submit
        bad.settings = #"{"architecture":"effunet-b0","steps":0,"batch":8,"checkpointEvery":50,"validateEvery":29}"#
        #expect(throws: WireError.self) { try WireCodec.decode(Wire.TrainSubmit.self, Array(WireCodec.frames(.trainSubmit, bad)[1])).get() }

        let step = Wire.TrainStep(run: 1, step: 4, epoch: 2, rank: 1, ring: ["tcp://a:1", "tcp://b:2"], first: 4, end: 8)
        #expect(try WireCodec.decode(Wire.TrainStep.self, WireCodec.frames(.trainStep, step)[1]).get() == step)
        for broken in [
            Wire.TrainStep(run: 1, step: 4, epoch: 2, rank: 2, ring: ["tcp://a:1", "tcp://b:2"], first: 4, end: 8),
            Wire.TrainStep(run: 1, step: 4, epoch: 2, rank: 0, ring: [], first: 0, end: 8),
            Wire.TrainStep(run: 1, step: 4, epoch: 2, rank: 0, ring: ["tcp://a:1"], first: 4, end: 4),
            Wire.TrainStep(run: 1, step: -1, epoch: 2, rank: 0, ring: ["tcp://a:1"], first: 0, end: 4),
        ] {
            #expect(throws: WireError.self) { try WireCodec.decode(Wire.TrainStep.self, WireCodec.frames(.trainStep, broken)[1]).get() }
        }
        let done = Wire.TrainDone(run: 1, step: 4, epoch: 2, loss: 0.5, digest: "0123456789abcdef", seconds: 1.5)
        #expect(try WireCodec.decode(Wire.TrainDone.self, WireCodec.frames(.trainDone, done)[1]).get() == done)
        var short = done
        short.digest = "123456789abcdef"
        #expect(throws: WireError.self) { try WireCodec.decode(Wire.TrainDone.self, WireCodec.frames(.trainDone, short)[1]).get() }

        // A training state: a header and three files, the first two never empty.
        let header = Wire.TrainStateHeader(run: 1, step: 8, dice: 0.9)
        let frames = WireCodec.frames(header, weights: [1, 2], optimizer: [3], model: [])
        guard case .success(let (stateKind, stateBody)) = WireCodec.open(frames), stateKind == .trainState,
            case .success(let state) = WireCodec.trainState(stateBody)
        else { Issue.record("state did not decode"); return }
        #expect(state.0 == header && state.weights == [1, 2] && state.optimizer == [3] && state.model.isEmpty)
        #expect(throws: WireError.self) { try WireCodec.open(Array(frames.dropLast())).get() }
        #expect(throws: WireError.self) { try WireCodec.trainState(Array(WireCodec.frames(header, weights: [], optimizer: [3]).dropFirst())).get() }
    }

    /// Finding 1 of the hardening review: a result whose side is 2³¹ or more overflowed
    /// side × side × bytes a pixel and killed the coordinator.
    @Test(arguments: [UInt32(1) << 31, UInt32.max, 4097])
    func resultsLargerThanATileAreRefusedNotTrapped(side: UInt32) {
        for encoding in [MapEncoding.uint8, .float16] {
            let result = Wire.TileResult(job: 1, request: 1, row: 0, column: 0, size: side, encoding: encoding, inset: 0)
            let frames = WireCodec.frames(result, map: [1, 2, 3, 4])
            #expect(throws: WireError.self) { try WireCodec.result(Array(frames.dropFirst())).get() }
            #expect(throws: WireError.self) { try WireCodec.result(Array(frames.dropFirst()), maxSize: 512).get() }
        }
    }

    /// Values out of their documented range make a body malformed, whatever JSON allowed.
    @Test(arguments: [
        (
            WireKind.register,
            #"{"protocolVersion":3,"member":"m","architecture":"stain","weightsDigest":"","threads":18446744073709551615,"name":"w","tileSides":{"multiple":1,"minimum":16,"maximum":64}}"#
        ),
        (
            .register,
            #"{"protocolVersion":3,"member":"m","architecture":"stain","weightsDigest":"","threads":0,"name":"w","tileSides":{"multiple":1,"minimum":16,"maximum":64}}"#
        ),
        (
            .register,
            #"{"protocolVersion":3,"member":"m","architecture":"stain","weightsDigest":"xyz","threads":1,"name":"w","tileSides":{"multiple":1,"minimum":16,"maximum":64}}"#
        ),
        (
            .register,
            #"{"protocolVersion":3,"member":"m","architecture":"stain","weightsDigest":"","threads":1,"name":"w","tileSides":{"multiple":0,"minimum":16,"maximum":64}}"#
        ),
        (
            .register,
            #"{"protocolVersion":3,"member":"m","architecture":"stain","weightsDigest":"","threads":1,"name":"w","tileSides":{"multiple":1,"minimum":64,"maximum":16}}"#
        ),
        (
            .register,
            #"{"protocolVersion":3,"member":"","architecture":"stain","weightsDigest":"","threads":1,"name":"w","tileSides":{"multiple":1,"minimum":16,"maximum":64}}"#
        ),
        (.welcome, #"{"heartbeatMilliseconds":9223372036854775807,"liveness":3,"credit":4}"#),
        (.welcome, #"{"heartbeatMilliseconds":1000,"liveness":9223372036854775807,"credit":4}"#),
        (.welcome, #"{"heartbeatMilliseconds":1000,"liveness":3,"credit":0}"#),
        (.welcome, #"{"heartbeatMilliseconds":1000,"liveness":3,"credit":-4}"#),
        (.submit, #"{"name":"a","path":"/a","size":18446744073709551615,"digest":"0123456789abcdef"}"#),
        (.submit, #"{"name":"a","path":"/a","size":0,"digest":"0123456789abcdef"}"#),
        (.submit, #"{"name":"a","path":"/a","size":10,"digest":"0123"}"#),
        (.fetch, #"{"job":1,"content":"mask","offset":0,"size":0}"#),
        (.fetch, #"{"job":1,"content":"mask","offset":0,"size":1048577}"#),
        (.fetch, #"{"job":1,"content":"pixels","offset":0,"size":10}"#),
        (.refuse, #"{}"#), (.refuse, #"{"reason":5}"#), (.refuse, #""nope""#), (.refuse, ""),
    ])
    func outOfRangeBodiesAreMalformed(kind: WireKind, json: String) {
        let body = Array(json.utf8)
        let decoded: Result<Void, WireError>
        switch kind {
        case .register: decoded = WireCodec.decode(Wire.Register.self, body).map { _ in }
        case .welcome: decoded = WireCodec.decode(Wire.Welcome.self, body).map { _ in }
        case .submit: decoded = WireCodec.decode(Wire.Submit.self, body).map { _ in }
        case .fetch: decoded = WireCodec.decode(Wire.Fetch.self, body).map { _ in }
        default: decoded = WireCodec.decode(Wire.Reason.self, body).map { _ in }
        }
        #expect(throws: WireError.self) { try decoded.get() }
    }

    /// Kinds without a body take an empty body frame only.
    @Test(arguments: [WireKind.heartbeat, .goodbye, .registerAgain, .statusRequest])
    func bodilessKindsRefuseABody(kind: WireKind) {
        #expect(throws: Never.self) { try WireCodec.open(WireCodec.frames(kind)).get() }
        #expect(throws: WireError.self) { try WireCodec.open([WireHeader.frame(kind), [0x7B, 0x7D]]).get() }
    }

    @Test(arguments: [
        [[UInt8]](), [[0x54, 0x53, WireHeader.version]], [[0x54, 0x53, WireHeader.version + 1, 4], []],
        [[0x54, 0x53, WireHeader.version, 99], []], [[0x54, 0x53, WireHeader.version, 5], []],
        [[0x54, 0x53, WireHeader.version, 4]], [[0x41, 0x53, WireHeader.version, 4], []],
    ])
    func malformedMessagesAreRefused(frames: [[UInt8]]) {
        #expect(throws: WireError.self) { try WireCodec.open(frames).get() }
    }

    @Test func malformedBodiesAreRefused() {
        let wrongPixels = [Array(repeating: UInt8(0), count: 34)]
        var header = Array(repeating: UInt8(0), count: 46)
        header[24] = 4  // size 4
        header[28] = 1  // uint8
        header[34] = 4  // map side 4
        #expect(throws: WireError.self) { try WireCodec.tile([header, Array(repeating: 0, count: 47)], maxSize: 64).get() }
        #expect(throws: Never.self) { try WireCodec.tile([header, Array(repeating: 0, count: 48)], maxSize: 64).get() }
        header[30] = 2  // inset 2 of a 4-pixel tile leaves nothing
        #expect(throws: WireError.self) { try WireCodec.tile([header, Array(repeating: 0, count: 48)], maxSize: 64).get() }
        header[30] = 0
        header[28] = 9
        #expect(throws: WireError.self) { try WireCodec.tile([header, Array(repeating: 0, count: 48)], maxSize: 64).get() }
        #expect(throws: WireError.self) { try WireCodec.tile(wrongPixels + [[]], maxSize: 64).get() }
        #expect(throws: WireError.self) { try WireCodec.decode(Wire.Register.self, Array("{\"member\":1}".utf8)).get() }
    }

    @Test func mapEncodingsDecodeToFixedPointAsInfer() {
        let probabilities: [Float] = [0, 0.25, 0.5, 0.5000001, 1, -3, 7, .nan, 0.123_456]
        let bytes = MapEncoding.uint8.decode(MapEncoding.uint8.encode(probabilities), pixels: probabilities.count)!
        #expect(bytes == [0, 16448, 32896, 32896, 65535, 0, 65535, 0, 7967])  // 0.1235 × 255 → 31
        let halves = MapEncoding.float16.decode(MapEncoding.float16.encode(probabilities), pixels: probabilities.count)!
        #expect(halves[0] == 0 && halves[1] == 16384 && halves[4] == 65535 && halves[5] == 0 && halves[6] == 65535 && halves[7] == 0)
        #expect(abs(Int(halves[8]) - 8091) <= 4)
        #expect(MapEncoding.float16.decode([1, 2, 3], pixels: 2) == nil)
    }

    /// Integers written with a fraction or an exponent are malformed (PROTOCOL.md, "Field
    /// types"), as an independent peer found they were not; a number of a floating-point
    /// field may be written as a whole number.
    @Test func integersWrittenWithAFractionAreMalformed() throws {
        func fractional<T: WireBody>(_ body: T, _ key: String, _ type: T.Type) throws -> (whole: Bool, fraction: Bool) {
            let json = String(decoding: WireCodec.frames(.heartbeat, body)[1], as: UTF8.self)
            let pattern = try Regex("\"\(key)\":(-?[0-9]+)")
            let match = try #require(json.firstMatch(of: pattern), "\(json)")
            let written = json.replacingCharacters(in: match.range, with: "\"\(key)\":\(match.output[1].substring!).0")
            let exponent = json.replacingCharacters(in: match.range, with: "\"\(key)\":\(match.output[1].substring!)e0")
            let whole = (try? WireCodec.decode(T.self, Array(json.utf8)).get()) != nil
            let fraction =
                (try? WireCodec.decode(T.self, Array(written.utf8)).get()) != nil || (try? WireCodec.decode(T.self, Array(exponent.utf8)).get()) != nil
            return (whole, fraction)
        }
        let cases: [(whole: Bool, fraction: Bool)] = [
            try fractional(Wire.Submit(name: "s", path: "/s.tiff", size: 10, digest: "0123456789abcdef"), "size", Wire.Submit.self),
            try fractional(Wire.Attach(job: 1), "job", Wire.Attach.self),
            try fractional(Wire.Fetch(job: 1, content: .mask, offset: 0, size: 10), "offset", Wire.Fetch.self),
            try fractional(Wire.Welcome(heartbeatMilliseconds: 500, liveness: 3, credit: 2), "heartbeatMilliseconds", Wire.Welcome.self),
            try fractional(Wire.TrainStep(run: 1, step: 4, epoch: 2, rank: 0, ring: ["tcp://a:1"], first: 0, end: 4), "epoch", Wire.TrainStep.self),
        ]
        for (index, outcome) in cases.enumerated() { #expect(outcome.whole && !outcome.fraction, "case \(index)") }
        let settings = #"{"architecture":"effunet-b0","steps":2.0,"batch":6,"checkpointEvery":4,"validateEvery":0}"#
        #expect(TrainingPlan(json: settings) == nil)
        #expect(TrainingPlan(json: settings.replacingOccurrences(of: "2.0", with: "2")) != nil)
        // A double may be written whole.
        let done = #"{"run":1,"step":0,"epoch":1,"loss":1,"digest":"0123456789abcdef","seconds":2}"#
        #expect((try? WireCodec.decode(Wire.TrainDone.self, Array(done.utf8)).get()) != nil)
    }
}
