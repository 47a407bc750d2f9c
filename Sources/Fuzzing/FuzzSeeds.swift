import Core
import Foundation
import Shared

/// The fuzzers' starting corpus: valid frames of every kind, in the sequences real peers
/// exchange, so mutations start from messages that reach deep into each handler.
enum FuzzSeeds {
    static func inputs(for target: FuzzTarget) throws -> [FuzzInput] {
        switch target {
        case .codec:
            return [FuzzInput(everyKind.map { FuzzInput.Message(channel: 0, frames: $0) })]
                + everyKind.map { FuzzInput([FuzzInput.Message(channel: 0, frames: $0)]) }
        case .worker: return workerSeeds
        case .coordinator: return try coordinatorSeeds()
        case .client: return try clientSeeds()
        case .ring: return RingTarget.seeds
        }
    }

    static let pixels64 = [UInt8](repeating: 200, count: 64 * 64 * 3)
    static let tile64 = Wire.TileRequest(job: 1, request: 1, row: 0, column: 0, size: 64, encoding: .uint8, flips: .hv, inset: 8)

    /// One valid message of every kind.
    static var everyKind: [[[UInt8]]] {
        let result = Wire.TileResult(job: 1, request: 1, row: 0, column: 0, size: 64, encoding: .float16, inset: 8)
        let register = WorkerLinkTarget.registration
        let status = Wire.Status(
            workers: [.init(name: "w", member: "m", state: "busy", tilesPerSecond: 12.5, inFlight: 2, tilesDone: 7, kernels: "AVX2")],
            jobs: [.init(job: 1, name: "a.tiff", state: "running", tilesDone: 3, tilesTotal: 9, note: nil)])
        return [
            WireCodec.frames(.register, register),
            WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 1000, liveness: 3, credit: 4, trainingLiveness: 10)),
            WireCodec.frames(.refuse, Wire.Reason("no")),
            WireCodec.frames(.heartbeat),
            WireCodec.frames(tile64, pixels: pixels64),
            WireCodec.frames(
                Wire.TileRequest(
                    job: 1, request: 2, row: 0, column: 0, size: 32, encoding: .float16, flips: .none, inset: 8, mapSize: 64,
                    pixelSize: 0.998), pixels: [UInt8](repeating: 90, count: 32 * 32 * 3)),
            WireCodec.frames(result, map: [UInt8](repeating: 0x3C, count: 48 * 48 * 2)),
            WireCodec.frames(.tileFailed, Wire.TileFailure(job: 1, request: 1, reason: "out of memory")),
            WireCodec.frames(.goodbye),
            WireCodec.frames(.registerAgain),
            WireCodec.frames(.submit, Wire.Submit(name: "a.tiff", path: "/tmp/a.tiff", size: 1000, digest: "0123456789abcdef")),
            WireCodec.frames(.submit, Wire.Submit(name: "a.svs", path: "", size: 10, digest: "0123456789abcdef", pixelSize: 0.499, organ: "kidney")),
            WireCodec.frames(.accepted, Wire.Accepted(job: 1, upload: true)),
            WireCodec.frames(.fetch, Wire.Fetch(job: 1, content: .slide, offset: 0, size: 1000)),
            WireCodec.frames(.chunk, Wire.Chunk(job: 1, content: .mask, offset: 0), payload: [1, 2, 3]),
            WireCodec.frames(
                .progress,
                Wire.Progress(
                    job: 1, state: .running, tilesDone: 3, tilesTotal: 9, memberDone: [3], memberNames: ["m"],
                    secondsLeft: 1.5, note: "waiting")),
            WireCodec.frames(.finished, Wire.Finished(job: 1, width: 150, height: 100, foregroundPixels: 10, maskBytes: 2000, rleBytes: 30)),
            WireCodec.frames(.failed, Wire.Failed(job: 1, reason: "no")),
            WireCodec.frames(.attach, Wire.Attach(job: 1)),
            WireCodec.frames(.statusRequest),
            WireCodec.frames(.statusReply, status),
            WireCodec.frames(.error, Wire.Reason("no")),
        ] + trainingKinds
    }

    static let trainingSettings = #"{"architecture":"constant","steps":4,"batch":4,"checkpointEvery":2,"validateEvery":0,"tile":64}"#

    /// One valid message of every training kind.
    static var trainingKinds: [[[UInt8]]] {
        [
            WireCodec.frames(.trainSubmit, Wire.TrainSubmit(name: "data", member: "half", data: "/tmp/data", weights: nil, settings: trainingSettings)),
            WireCodec.frames(
                .trainProgress,
                Wire.TrainProgress(
                    job: 1, state: .running, step: 2, steps: 4, loss: 0.5, imagesPerSecond: 3,
                    secondsLeft: 2, ring: ["w"], validation: [.init(step: 2, dice: 0.5)], note: nil)),
            WireCodec.frames(.trainFinished, Wire.TrainFinished(job: 1, steps: 4, dice: 0.9, modelBytes: 3)),
            WireCodec.frames(.trainJoin, Wire.TrainJoin(run: 1, data: "/tmp/data", weights: nil, settings: trainingSettings)),
            WireCodec.frames(.trainReady, Wire.TrainReady(run: 1, endpoint: "tcp://127.0.0.1:5000", dataDigest: "0123456789abcdef", trainingTiles: 9)),
            WireCodec.frames(.trainStep, Wire.TrainStep(run: 1, step: 0, epoch: 1, rank: 0, ring: ["tcp://127.0.0.1:5000"], first: 0, end: 4)),
            WireCodec.frames(.trainDone, Wire.TrainDone(run: 1, step: 0, epoch: 1, loss: 0.7, digest: "0123456789abcdef", seconds: 0.5)),
            WireCodec.frames(.trainSave, Wire.TrainSave(run: 1, step: 0, model: false, epoch: 3)),
            WireCodec.frames(Wire.TrainStateHeader(run: 1, step: 0, dice: nil), weights: [1, 2, 3], optimizer: [4, 5], model: [6]),
            WireCodec.frames(.trainStop, Wire.TrainStop(run: 1, reason: "finished")),
            WireCodec.frames(.trainFailed, Wire.TrainFailed(run: 1, fatal: false, reason: "ring")),
        ]
    }

    // MARK: Worker

    static var workerSeeds: [FuzzInput] {
        func coordinator(_ frames: [[UInt8]]) -> FuzzInput.Message { .init(channel: 0, frames: frames) }
        func wait(_ milliseconds: UInt32) -> FuzzInput.Message {
            .init(channel: 1, frames: [(0..<4).map { UInt8(truncatingIfNeeded: milliseconds >> (8 * $0)) }])
        }
        let answered = FuzzInput.Message(channel: 2, frames: [[1]])
        let welcome = coordinator(WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 200, liveness: 3, credit: 2)))
        let tile = coordinator(WireCodec.frames(tile64, pixels: pixels64))
        var odd = tile64
        odd.size = 16
        return [
            FuzzInput([welcome, tile, wait(100), answered, coordinator(WireCodec.frames(.heartbeat)), tile, tile, tile, wait(700), wait(5000)]),
            FuzzInput([
                coordinator(WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 60_000, liveness: 100, credit: 64))), wait(4_000_000),
                wait(3_000_000),
            ]),
            FuzzInput([
                welcome, coordinator(WireCodec.frames(odd, pixels: [UInt8](repeating: 1, count: 16 * 16 * 3))),
                coordinator(WireCodec.frames(.registerAgain)), welcome, tile,
            ]),
            FuzzInput([tile, welcome, coordinator(WireCodec.frames(.refuse, Wire.Reason("go away")))]),
            FuzzInput([welcome] + trainingKinds.map(coordinator) + [coordinator(WireCodec.frames(.registerAgain)), welcome]),
        ]
    }

    // MARK: Coordinator

    static func coordinatorSeeds() throws -> [FuzzInput] {
        try CoordinatorTarget.prepare()
        func worker(_ frames: [[UInt8]]) -> FuzzInput.Message { .init(channel: 0, frames: [CoordinatorTarget.worker] + frames) }
        func client(_ frames: [[UInt8]]) -> FuzzInput.Message { .init(channel: 1, frames: [CoordinatorTarget.client] + frames) }
        let metrics = FuzzInput.Message(channel: 2, frames: [[]])
        let register = worker(
            WireCodec.frames(
                .register,
                Wire.Register(
                    protocolVersion: Int(WireHeader.version), member: "half", architecture: "constant", weightsDigest: "", threads: 1, name: "w",
                    tileSides: Wire.TileSides(multiple: 1, minimum: 16, maximum: CoordinatorTarget.tile))))
        let (size, digest) = try FileDigest.sampled(CoordinatorTarget.slidePath)
        let submit = client(WireCodec.frames(.submit, Wire.Submit(name: "synth_1.tiff", path: CoordinatorTarget.slidePath, size: size, digest: digest)))
        let upload = client(WireCodec.frames(.submit, Wire.Submit(name: "up.tiff", path: "", size: 5, digest: "0123456789abcdef")))
        let chunk = client(WireCodec.frames(.chunk, Wire.Chunk(job: 1, content: .slide, offset: 0), payload: [1, 2, 3, 4, 5]))
        func result(_ request: UInt64, row: UInt32, column: UInt32) -> FuzzInput.Message {
            worker(
                WireCodec.frames(
                    Wire.TileResult(
                        job: 1, request: request, row: row, column: column, size: UInt32(CoordinatorTarget.tile),
                        encoding: .uint8, inset: 8), map: [UInt8](repeating: 200, count: 48 * 48)))
        }
        let results: [FuzzInput.Message] = (0..<6).map { (index: Int) -> FuzzInput.Message in
            result(UInt64(index + 1), row: UInt32(index / 3), column: UInt32(index % 3))
        }
        let heartbeat = worker(WireCodec.frames(.heartbeat))
        let status = client(WireCodec.frames(.statusRequest))
        let whole: [FuzzInput.Message] = [register, submit, heartbeat] + results + [metrics, status]
        // A training run of the member: the worker joins, steps, saves, fails.
        let training: [FuzzInput.Message] = [
            register,
            client(
                WireCodec.frames(
                    .trainSubmit,
                    Wire.TrainSubmit(
                        name: "data", member: "half", data: "/tmp/data", weights: nil,
                        settings: trainingSettings))),
            heartbeat,
            worker(
                WireCodec.frames(
                    .trainReady,
                    Wire.TrainReady(
                        run: 1, endpoint: "tcp://127.0.0.1:5000", dataDigest: "0123456789abcdef",
                        trainingTiles: 9))),
            worker(WireCodec.frames(Wire.TrainStateHeader(run: 1, step: 0, dice: nil), weights: [1, 2, 3], optimizer: [4, 5])),
            worker(WireCodec.frames(.trainDone, Wire.TrainDone(run: 1, step: 0, epoch: 1, loss: 0.7, digest: "0123456789abcdef", seconds: 0.5))),
            worker(WireCodec.frames(.trainDone, Wire.TrainDone(run: 1, step: 1, epoch: 1, loss: 0.6, digest: "0123456789abcdef", seconds: 0.5))),
            worker(WireCodec.frames(Wire.TrainStateHeader(run: 1, step: 2, dice: 0.5), weights: [1, 2, 3], optimizer: [4, 5], model: [6])),
            status,
            client(WireCodec.frames(.attach, Wire.Attach(job: 1))),
            worker(WireCodec.frames(.trainFailed, Wire.TrainFailed(run: 1, fatal: false, reason: "ring"))),
            client(WireCodec.frames(.fetch, Wire.Fetch(job: 1, content: .model, offset: 0, size: 100))),
        ]
        return [
            FuzzInput(training),
            FuzzInput(whole),
            FuzzInput([
                submit, register, worker(WireCodec.frames(.tileFailed, Wire.TileFailure(job: 1, request: 1, reason: "no"))),
                client(WireCodec.frames(.attach, Wire.Attach(job: 1))), worker(WireCodec.frames(.goodbye)),
            ]),
            FuzzInput([
                upload, chunk, client(WireCodec.frames(.fetch, Wire.Fetch(job: 1, content: .mask, offset: 0, size: 100))),
                client(WireCodec.frames(.attach, Wire.Attach(job: 1))),
            ]),
            FuzzInput([
                register, submit, result(1, row: 0, column: 0),
                worker(
                    WireCodec.frames(
                        .register,
                        Wire.Register(
                            protocolVersion: Int(WireHeader.version), member: "half", architecture: "constant", weightsDigest: "", threads: 1, name: "w",
                            tileSides: Wire.TileSides(multiple: 32, minimum: 32, maximum: 256)))), submit,
            ]),
        ]
    }

    // MARK: Client

    static func clientSeeds() throws -> [FuzzInput] {
        try CoordinatorTarget.prepare()
        func coordinator(_ frames: [[UInt8]]) -> FuzzInput.Message { .init(channel: 0, frames: frames) }
        let size = try FileDigest.sampled(CoordinatorTarget.slidePath).size
        let finished = Wire.Finished(job: 1, width: 150, height: 100, foregroundPixels: 10, maskBytes: 6, rleBytes: 4)
        return [
            FuzzInput([
                coordinator(WireCodec.frames(.accepted, Wire.Accepted(job: 1, upload: true))),
                coordinator(WireCodec.frames(.fetch, Wire.Fetch(job: 1, content: .slide, offset: 0, size: min(size, 1 << 20)))),
                coordinator(
                    WireCodec.frames(
                        .progress,
                        Wire.Progress(
                            job: 1, state: .running, tilesDone: 1, tilesTotal: 6, memberDone: [1],
                            memberNames: ["half"], secondsLeft: nil, note: nil))),
                coordinator(WireCodec.frames(.finished, finished)),
                coordinator(WireCodec.frames(.chunk, Wire.Chunk(job: 1, content: .mask, offset: 0), payload: [1, 2, 3, 4, 5, 6])),
                coordinator(WireCodec.frames(.chunk, Wire.Chunk(job: 1, content: .rle, offset: 0), payload: Array("1 2\n".utf8))),
            ]),
            FuzzInput([
                coordinator(WireCodec.frames(.accepted, Wire.Accepted(job: 1, upload: false))),
                coordinator(WireCodec.frames(.failed, Wire.Failed(job: 1, reason: "no"))),
            ]),
            FuzzInput([coordinator(WireCodec.frames(.error, Wire.Reason("malformed submit")))]),
        ] + trainingKinds.map { FuzzInput([coordinator(WireCodec.frames(.accepted, Wire.Accepted(job: 1, upload: false))), coordinator($0)]) }
    }
}
