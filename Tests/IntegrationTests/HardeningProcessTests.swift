import Core
import Foundation
import TestSupport
import Testing
import Tiling
import ZeroMQ

@testable import Segmentation
@testable import Shared

/// The findings of the hardening review (issue: one message must never kill a coordinator
/// or a worker), each against real processes, with the test playing the hostile peer.
@Suite(.serialized) struct HardeningProcessTests {
    static let stain = """
        [member stain]
        architecture = stain
        """

    static let half = """
        [member half]
        architecture = constant
        value = 0.25
        """

    static func register(_ member: String, architecture: String, sides: Wire.TileSides = .init(multiple: 1, minimum: 16, maximum: 128)) -> [[UInt8]] {
        WireCodec.frames(
            .register,
            Wire.Register(
                protocolVersion: Int(WireHeader.version), member: member, architecture: architecture,
                weightsDigest: "", threads: 1, name: "hostile", tileSides: sides))
    }

    static func droppedCount(_ cluster: ClusterHarness) throws -> Int {
        try cluster.metrics().split(separator: "\n").first { $0.hasPrefix("tessera_dropped_messages_total ") }
            .flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    }

    /// Finding 1: a registered peer's result with a side of 2³¹ or more killed the
    /// coordinator (an overflow in the result decoder).
    @Test func aResultOfAnyHeaderNeverKillsTheCoordinator() throws {
        let cluster = try ClusterHarness(members: Self.stain)
        let coordinator = try cluster.startCoordinator()
        let peer = try FakePeer(dealerTo: "ipc://\(cluster.folder)/w.sock")
        try peer.send(Self.register("stain", architecture: "stain"))
        #expect(try peer.receive(.welcome) != nil)
        for (side, encoding) in [(UInt32(1) << 31, MapEncoding.float16), (UInt32.max, .uint8), (4097, .uint8), (129, .uint8)] {
            try peer.send(
                WireCodec.frames(
                    Wire.TileResult(job: 1, request: 1, row: 0, column: 0, size: side, encoding: encoding, inset: 0),
                    map: [1, 2, 3, 4]))
        }
        // A register whose threads do not fit a signed 64-bit integer is malformed, not news.
        try peer.send([
            WireHeader.frame(.register),
            Array(
                #"{"protocolVersion":3,"member":"stain","architecture":"stain","weightsDigest":"","threads":18446744073709551615,"name":"x","tileSides":{"multiple":1,"minimum":16,"maximum":128}}"#
                    .utf8),
        ])
        // The coordinator's heartbeats are its own, not answers: wait for the drops to be counted.
        let deadline = Date().addingTimeInterval(10)
        while try Self.droppedCount(cluster) < 5, Date() < deadline { usleep(50_000) }
        #expect(coordinator.isRunning)
        #expect(try Self.droppedCount(cluster) >= 5)
        try cluster.startWorker("stain")
        let slide = try cluster.synth(width: 300, height: 200, seed: 3)
        let result = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// A peer's finding: a worker the coordinator does not know is answered `registerAgain`
    /// only for a heartbeat, a result or a tileFailed; its training messages (an earlier
    /// session's, still in flight) are dropped unanswered.
    @Test func trainingMessagesFromAnUnknownWorkerAreDropped() throws {
        let cluster = try ClusterHarness(members: Self.stain)
        try cluster.startCoordinator()
        let peer = try FakePeer(dealerTo: "ipc://\(cluster.folder)/w.sock")
        for frames in [
            WireCodec.frames(.trainReady, Wire.TrainReady(run: 1, endpoint: "tcp://127.0.0.1:1", dataDigest: "0123456789abcdef", trainingTiles: 1)),
            WireCodec.frames(.trainDone, Wire.TrainDone(run: 1, step: 0, epoch: 1, loss: 0.5, digest: "0123456789abcdef", seconds: 1)),
            WireCodec.frames(.trainFailed, Wire.TrainFailed(run: 1, fatal: false, reason: "x")),
        ] {
            try peer.send(frames)
        }
        #expect(try peer.receive(.registerAgain, timeout: 1.5) == nil)
        try peer.send(WireCodec.frames(.heartbeat))
        #expect(try peer.receive(.registerAgain) != nil)
        #expect(try Self.droppedCount(cluster) >= 3)
    }

    /// Finding 2, worker side: a tile side its CNN cannot take (16, 100, 250 for an
    /// EfficientNet U-Net) killed the worker; it now answers tileFailed and goes on.
    /// The worker also registers as documented: routing id `w-` + a UUID, its `--threads`,
    /// and the tile sides it takes.
    @Test func aCNNWorkerAnswersTilesItCannotTakeWithTileFailed() throws {
        let cluster = try ClusterHarness(members: "")
        let weights = cluster.folder + "/b0.safetensors"
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b0", "--out", weights]).status == 0)
        try cluster.writeConfig(cluster.configPath, members: "[member b0]\narchitecture = effunet-b0\nweights = \(weights)", tile: 256)
        let coordinator = try FakePeer(routerAt: "ipc://\(cluster.folder)/w.sock")
        let worker = try ManagedProcess(["worker", "--config", cluster.configPath, "--member", "b0", "--threads", "1"])
        defer { worker.stop(grace: 2) }
        let register = try #require(try coordinator.receive(.register, timeout: 30), "\(worker.stderr)")
        let identity = register[0]
        #expect(
            identity.count == 38 && Array(identity.prefix(2)) == Array("w-".utf8)
                && UUID(uuidString: String(decoding: identity.dropFirst(2), as: UTF8.self)) != nil,
            "routing id \(String(decoding: identity, as: UTF8.self))")
        let registration = try WireCodec.decode(Wire.Register.self, register[2]).get()
        #expect(registration.threads == 1 && registration.tileSides == Wire.TileSides(multiple: 32, minimum: 32, maximum: 256))
        try coordinator.send([identity] + WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 200, liveness: 3, credit: 4)))
        for (request, side) in [(UInt64(1), UInt32(100)), (2, 16), (3, 250)] {
            try coordinator.send(
                [identity]
                    + WireCodec.frames(
                        Wire.TileRequest(job: 1, request: request, row: 0, column: 0, size: side, encoding: .uint8, flips: .none),
                        pixels: [UInt8](repeating: 150, count: Int(side * side * 3))))
            let failure = try WireCodec.decode(Wire.TileFailure.self, try #require(try coordinator.body(.tileFailed))[0]).get()
            #expect(failure.request == request && failure.reason.contains("multiples of 32") && failure.reason.contains("not \(side)"), "\(failure.reason)")
        }
        try coordinator.send(
            [identity]
                + WireCodec.frames(
                    Wire.TileRequest(job: 1, request: 9, row: 0, column: 0, size: 64, encoding: .uint8, flips: .none),
                    pixels: [UInt8](repeating: 150, count: 64 * 64 * 3)))
        let result = try #require(try coordinator.body(.result, timeout: 30), "\(worker.stderr)")
        let (header, map) = try WireCodec.result(result).get()
        #expect(header.request == 9 && map.count == 64 * 64)
        #expect(worker.isRunning)
    }

    /// Finding 2, coordinator side: a cluster whose tile a member cannot take refuses that
    /// member's workers at registration, saying why, and refuses submits meanwhile.
    @Test func aTileSizeAMemberCannotTakeIsRefusedAtRegistrationAndSubmit() throws {
        let cluster = try ClusterHarness(members: "", tile: 100)
        let weights = cluster.folder + "/b0.safetensors"
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b0", "--out", weights]).status == 0)
        let member = "[member b0]\narchitecture = effunet-b0\nweights = \(weights)"
        try cluster.writeConfig(cluster.configPath, members: member, tile: 100)
        // The worker's own file says 128, which it can take; the coordinator's says 100.
        let workerConfig = cluster.folder + "/worker.conf"
        try cluster.writeConfig(workerConfig, members: member, tile: 128)
        try cluster.startCoordinator()
        let worker = try cluster.startWorker("b0", config: workerConfig, waitForRegistration: false)
        #expect(worker.wait(timeout: 30) != 0)
        #expect(worker.stderr.contains("refused this worker") && worker.stderr.contains("not this cluster's 100"), "\(worker.stderr)")
        let slide = try cluster.synth(width: 200, height: 200, seed: 1)
        let started = Date()
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status != 0 && submit.stderr.contains("multiples of 32") && submit.stderr.contains("100"), "\(submit.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
    }

    /// Finding 3: any refuse, malformed ones too, ended a worker.
    @Test func onlyAWellFormedRefuseStopsAWorker() throws {
        let cluster = try ClusterHarness(members: Self.half)
        let coordinator = try FakePeer(routerAt: "ipc://\(cluster.folder)/w.sock")
        let worker = try cluster.startWorker("half", waitForRegistration: false)
        let identity = try #require(try coordinator.receive(.register)?.first)
        for body in ["{}", #"{"reason": 5}"#, #""nope""#, ""] {
            try coordinator.send([identity, WireHeader.frame(.refuse), Array(body.utf8)])
        }
        // Dropped, and still registering: it was not stopped.
        #expect(worker.waitForError("dropped", timeout: 10))
        #expect(try coordinator.receive(.register) != nil)
        #expect(worker.isRunning)
        try coordinator.send([identity] + WireCodec.frames(.refuse, Wire.Reason("member half is retired")))
        #expect(worker.wait(timeout: 10) != 0)
        #expect(worker.stderr.contains("member half is retired"))
    }

    /// Finding 4: a welcome of 2⁶³−1 made a worker deaf to a silent coordinator.
    @Test func aWorkerStaysAliveToASilentCoordinatorWhateverItIsTold() throws {
        let cluster = try ClusterHarness(members: Self.half)
        let coordinator = try FakePeer(routerAt: "ipc://\(cluster.folder)/w.sock")
        let worker = try cluster.startWorker("half", waitForRegistration: false)
        defer { worker.stop(grace: 2) }
        let first = try #require(try coordinator.receive(.register)?.first)
        try coordinator.send([
            first, WireHeader.frame(.welcome), Array(#"{"heartbeatMilliseconds":9223372036854775807,"liveness":9223372036854775807,"credit":4}"#.utf8),
        ])
        // Not welcomed by that: it drops it and registers again on its own interval (0.2 s).
        #expect(worker.waitForError("dropped", timeout: 10))
        #expect(try coordinator.receive(.register)?.first == first)
        #expect(!worker.stderr.contains("registered with"))
        try coordinator.send([first] + WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 200, liveness: 2, credit: 4)))
        #expect(worker.waitForError("registered with", timeout: 5))
        // Then silence: within 0.4 s plus a second's back-off it connects afresh and registers.
        let again = try #require(try coordinator.receive(.register, timeout: 10))
        #expect(again[0] != first)
        #expect(worker.stderr.contains("no word from the coordinator"))
    }

    /// Uploads abandoned before their first byte expire after upload_timeout; a path that
    /// is not a regular file (a FIFO would block the coordinator) is never read in place;
    /// malformed client messages are answered with error.
    @Test func abandonedUploadsExpireAndOddPathsAreNotRead() throws {
        let cluster = try ClusterHarness(members: Self.half, extra: "upload_timeout = 1")
        let coordinator = try cluster.startCoordinator()
        let client = try FakePeer(dealerTo: "ipc://\(cluster.folder)/c.sock")
        let fifo = cluster.folder + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        try client.send(WireCodec.frames(.submit, Wire.Submit(name: "fifo", path: fifo, size: 10, digest: "0123456789ABCDEF")))
        let accepted = try WireCodec.decode(Wire.Accepted.self, try #require(try client.body(.accepted))[0]).get()
        #expect(accepted.upload)
        #expect(try client.receive(.fetch) != nil)
        let failed = try WireCodec.decode(Wire.Failed.self, try #require(try client.body(.failed, timeout: 10))[0]).get()
        #expect(failed.job == accepted.job && failed.reason.contains("upload_timeout"), "\(failed.reason)")
        try client.send([WireHeader.frame(.statusRequest), Array("x".utf8)])
        let error = try WireCodec.decode(Wire.Reason.self, try #require(try client.body(.error))[0]).get()
        #expect(error.reason.contains("statusRequest"), "\(error.reason)")
        #expect(coordinator.isRunning)
    }
}
