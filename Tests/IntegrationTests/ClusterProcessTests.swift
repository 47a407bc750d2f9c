import Core
import Foundation
import OpenSlide
import TestSupport
import Testing
import ZeroMQ

@testable import Segmentation
@testable import Shared

/// Real coordinator, worker and client processes on this machine.
@Suite(.serialized) struct ClusterProcessTests {
    static let twoMembers = """
        [member stain]
        architecture = stain
        weight = 1

        [member half]
        architecture = constant
        value = 0.6
        weight = 0.5
        """

    static let oneMember = """
        [member half]
        architecture = constant
        value = 0.6
        """

    /// Three slide readers too: their bands of columns must not change a bit.
    @Test func threeWorkersOfTwoMembersReproduceInferBitForBit() throws {
        let cluster = try ClusterHarness(members: Self.twoMembers, window: "gaussian", extra: "slide_readers = 3")
        try cluster.startCoordinator()
        try cluster.startWorker("stain")
        try cluster.startWorker("stain")
        try cluster.startWorker("half")
        let slideA = try cluster.synth(width: 900, height: 700, seed: 3)
        let slideB = try cluster.synth(width: 300, height: 260, seed: 4)
        // Two jobs at once: they queue FIFO and both finish.
        let second = try cluster.startSubmit([slideB, "--out", cluster.folder + "/b.tiff", "--quiet"])
        let first = try cluster.submit([slideA, "--out", cluster.folder + "/a.tiff", "--rle", cluster.folder + "/a.csv"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(second.wait(timeout: 120) == 0, "\(second.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/a.tiff") == ClusterHarness.pixels(try cluster.reference(slideA)))
        #expect(try ClusterHarness.pixels(cluster.folder + "/b.tiff") == ClusterHarness.pixels(try cluster.reference(slideB)))
        let csv = try String(contentsOfFile: cluster.folder + "/a.csv", encoding: .utf8)
        let rle = try TesseraBinary.run(["rle", "encode", cluster.folder + "/a.tiff"])
        #expect(csv == "id,rle\nsynth_3,\(rle.stdout)")
        let status = try TesseraBinary.run(["status", "--config", cluster.configPath])
        #expect(status.stdout.contains("workers: 3") && status.stdout.contains("finished"), "\(status.stdout)")
        // Each of the coordinator's threads accounts for its CPU time.
        let metrics = try cluster.metrics()
        for thread in ["sockets", "tile reader 1", "tile reader 3", "stitcher", "mask writer", "libzmq and other"] {
            #expect(metrics.contains("tessera_cpu_seconds_total{thread=\"\(thread)\"} "), "\(metrics)")
        }
        #expect(!metrics.contains("tile reader 4"), "\(metrics)")
    }

    /// Tiles over glass alone are never sent: the coordinator blends 0 for them, as `infer`
    /// does, so the mask is still `infer`'s bit for bit.
    @Test func tilesOverGlassNeverReachAWorker() throws {
        let cluster = try ClusterHarness(
            members: """
                [member bright]
                architecture = constant
                value = 0.7
                """)
        let coordinator = try cluster.startCoordinator()
        try cluster.startWorker("bright")
        let slide = try cluster.synth(width: 1536, height: 1536, seed: 21, glass: 0.5)
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status == 0, "\(submit.stderr)")
        let mask = try ClusterHarness.pixels(cluster.folder + "/m.tiff")
        #expect(mask == (try ClusterHarness.pixels(try cluster.reference(slide))))
        // 0.7 everywhere predicted; 0 where glass was skipped.
        #expect(mask.contains(0) && mask.contains(255))
        // Found as tiles are read: the count comes with the last tile.
        let line = coordinator.stderr.split(separator: "\n").first { $0.contains("tiles done, ") }.map(String.init) ?? ""
        let skipped = line.components(separatedBy: "tiles done, ").last?.split(separator: " ").first.flatMap { Int($0) } ?? 0
        #expect(skipped > 0, "\(line)")
    }

    /// Members that normalise stains (Reinhard towards a fitted reference, Macenko towards
    /// torchstain's) do so on the workers exactly as `infer --config` does, and the mask's
    /// small objects and holes are cleaned alike.
    @Test func stainNormalisingMembersReproduceInfer() throws {
        let cluster = try ClusterHarness(members: "")
        let shifted = try TesseraBinary.run([
            "synth", "--width", "700", "--height", "500", "--seed", "5", "--stain-shift", "0.8", "--out", cluster.folder,
            "--quiet",
        ])
        #expect(shifted.status == 0, "\(shifted.stderr)")
        let reference = try cluster.synth(width: 600, height: 600, seed: 6)
        let fit = try TesseraBinary.run(["stain", "fit", reference, "--method", "reinhard", "--out", cluster.folder + "/ref.json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        try cluster.writeConfig(
            cluster.configPath,
            members: """
                [member lab]
                architecture = stain
                stain = reinhard
                stain_reference = \(cluster.folder)/ref.json

                [member od]
                architecture = stain
                stain = macenko
                """, inference: "min_object_area = 40\nfill_holes_below = 30")
        try cluster.startCoordinator()
        try cluster.startWorker("lab")
        try cluster.startWorker("od")
        let slide = cluster.folder + "/synth_5.tiff"
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
    }

    /// Members declared at their own pixel sizes take tiles from the slide's pyramid level
    /// that suits both, resampled on the workers as `infer --config` does; a submission's
    /// `--pixel-size` overrides the file's, and changes the level.
    @Test func membersAtTheirPixelSizesReproduceInferFromPyramidLevels() throws {
        let cluster = try ClusterHarness(
            members: """
                [member coarse]
                architecture = stain
                pixel_size = 1.0

                [member coarser]
                architecture = stain
                pixel_size = 2.0
                weight = 0.5
                """)
        let coordinator = try cluster.startCoordinator()
        try cluster.startWorker("coarse")
        try cluster.startWorker("coarser")
        let slide = try cluster.synth(width: 900, height: 700, seed: 9, extra: ["--pyramid", "2,4", "--aperio"])
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
        #expect(coordinator.stderr.contains("2× pyramid level"), "\(coordinator.stderr)")
        let given = try cluster.submit([slide, "--out", cluster.folder + "/g.tiff", "--pixel-size", "0.25"])
        #expect(given.status == 0, "\(given.stderr)")
        let reference = try ClusterHarness.pixels(try cluster.reference(slide, extra: ["--pixel-size", "0.25"]))
        #expect(try ClusterHarness.pixels(cluster.folder + "/g.tiff") == reference)
        #expect(coordinator.stderr.contains("4× pyramid level"), "\(coordinator.stderr)")
    }

    /// A slide's organ picks its threshold on the coordinator as in `infer --config`; an
    /// organ the configuration has no threshold for is refused at once.
    @Test func anOrgansThresholdApplies() throws {
        let cluster = try ClusterHarness(members: Self.oneMember)
        try cluster.writeConfig(cluster.configPath, members: Self.oneMember + "\n[organ kidney]\nthreshold = 0.65\n[organ lung]\nthreshold = 0.55\n")
        try cluster.startCoordinator()
        try cluster.startWorker("half")
        let slide = try cluster.synth(width: 300, height: 200, seed: 12)
        for (organ, foreground) in [("kidney", false), ("lung", true)] {
            let submit = try cluster.submit([slide, "--out", cluster.folder + "/\(organ).tiff", "--organ", organ])
            #expect(submit.status == 0, "\(submit.stderr)")
            let mask = try ClusterHarness.pixels(cluster.folder + "/\(organ).tiff")
            #expect(mask == (try ClusterHarness.pixels(try cluster.reference(slide, extra: ["--organ", organ]))))
            // The constant 0.6 member: below kidney's 0.65, above lung's 0.55 (glass stays 0).
            #expect(mask.contains(255) == foreground, "\(organ)")
        }
        let unknown = try cluster.submit([slide, "--out", cluster.folder + "/x.tiff", "--organ", "kidny"])
        #expect(unknown.status != 0 && unknown.stderr.contains("kidney, lung"), "\(unknown.stderr)")
    }

    /// A slide OpenSlide reads (a Hamamatsu VMS: an index and its JPEGs), read in place by
    /// the coordinator as by `infer`; one that would have to be uploaded is refused, since
    /// it is several files.
    @Test(.enabled(if: OpenSlide.unavailable == nil, "OpenSlide is not installed (apt install libopenslide0)"))
    func aSlideOpenSlideReadsIsSegmentedInPlace() throws {
        let cluster = try ClusterHarness(members: Self.twoMembers)
        try cluster.startCoordinator()
        try cluster.startWorker("stain")
        try cluster.startWorker("half")
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SegmentationTests/Fixtures/vms").path
        for name in ["slide.vms", "slide.jpg", "map.jpg"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + name, toPath: cluster.folder + "/" + name)
        }
        let slide = cluster.folder + "/slide.vms"
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
        let upload = try cluster.submit([slide, "--out", cluster.folder + "/u.tiff", "--upload"])
        #expect(upload.status != 0 && upload.stderr.contains("several files"), "\(upload.stderr)")
        // An Aperio slide of JPEG 2000 tiles (TCGA's kind), which libtiff cannot decode: read
        // through OpenSlide on the coordinator as in `infer`, uploaded or in place; with
        // `--reader tiff` the submission fails, naming the compression.
        let jp2k = cluster.folder + "/jp2k.svs"
        try FileManager.default.copyItem(atPath: fixture + "/../aperio_jp2k.svs", toPath: jp2k)
        let reference = try ClusterHarness.pixels(try cluster.reference(jp2k))
        for extra in [[], ["--upload"]] {
            let result = try cluster.submit([jp2k, "--out", cluster.folder + "/j.tiff"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try ClusterHarness.pixels(cluster.folder + "/j.tiff") == reference)
        }
        let forced = try cluster.submit([jp2k, "--out", cluster.folder + "/f.tiff", "--reader", "tiff"])
        #expect(forced.status != 0 && forced.stderr.contains("Aperio JPEG 2000 (33005)"), "\(forced.stderr)")
    }

    /// Whole-slide stain normalisation: estimated once by the coordinator, applied as its
    /// readers read tiles, so every member sees what `infer --config` gives them.
    @Test func aSlidesStainsAreNormalisedOnceForAllMembers() throws {
        let cluster = try ClusterHarness(members: "")
        let shifted = try TesseraBinary.run([
            "synth", "--width", "700", "--height", "500", "--seed", "15", "--stain-shift", "1.0", "--out", cluster.folder,
            "--quiet",
        ])
        #expect(shifted.status == 0, "\(shifted.stderr)")
        let reference = try cluster.synth(width: 600, height: 600, seed: 16)
        let fit = try TesseraBinary.run(["stain", "fit", reference, "--slide", "--method", "reinhard", "--out", cluster.folder + "/ref.json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        try cluster.writeConfig(cluster.configPath, members: Self.twoMembers, inference: "stain = reinhard\nstain_reference = \(cluster.folder)/ref.json")
        try cluster.startCoordinator()
        try cluster.startWorker("stain")
        try cluster.startWorker("half")
        let slide = cluster.folder + "/synth_15.tiff"
        let submit = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(submit.status == 0, "\(submit.stderr)")
        let normalised = try ClusterHarness.pixels(try cluster.reference(slide))
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == normalised)
    }

    /// A worker whose configuration declares its member at another pixel size, or with
    /// another stain normalisation, than the coordinator's would predict otherwise than
    /// `infer --config`: it is refused, saying so.
    @Test func aWorkerAtAnotherPixelSizeOrStainIsRefused() throws {
        let cluster = try ClusterHarness(members: "[member coarse]\narchitecture = stain\npixel_size = 1.0\n")
        try cluster.startCoordinator()
        let other = cluster.folder + "/worker.conf"
        try cluster.writeConfig(other, members: "[member coarse]\narchitecture = stain\npixel_size = 2.0\n")
        let worker = try TesseraBinary.run(["worker", "--config", other, "--member", "coarse"], timeout: 30)
        #expect(worker.status != 0 && worker.stderr.contains("pixel_size 1.0"), "\(worker.stderr)")
        try cluster.writeConfig(other, members: "[member coarse]\narchitecture = stain\npixel_size = 1.0\nstain = macenko\n")
        let stained = try TesseraBinary.run(["worker", "--config", other, "--member", "coarse"], timeout: 30)
        #expect(stained.status != 0 && stained.stderr.contains("stain off"), "\(stained.stderr)")
    }

    @Test func aWorkerKilledMidSlideLosesNothing() throws {
        let cluster = try ClusterHarness(
            members: """
                [member slow]
                architecture = constant
                value = 0.7
                delay = 0.02

                [member stain]
                architecture = stain
                """)
        let coordinator = try cluster.startCoordinator()
        let victim = try cluster.startWorker("slow")
        try cluster.startWorker("slow")
        try cluster.startWorker("stain")
        let slide = try cluster.synth(width: 1200, height: 900, seed: 8)
        let submit = try cluster.startSubmit([slide, "--out", cluster.folder + "/m.tiff", "--quiet"])
        // Kill one worker of the slow member once tiles are flowing.
        let going = try cluster.waitForRunningJob(tilesDone: 10)
        #expect(going, "the job never got going")
        victim.signal(SIGKILL)
        #expect(submit.wait(timeout: 120) == 0, "\(submit.stderr)")
        // Found dead by missed heartbeats or by a send to it failing, its tiles went elsewhere.
        #expect(coordinator.stderr.contains("lost with"), "\(coordinator.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
    }

    @Test func aClientThatLeavesCanAttachLater() throws {
        let cluster = try ClusterHarness(
            members: """
                [member slow]
                architecture = constant
                value = 0.3
                delay = 0.01
                """)
        try cluster.startCoordinator()
        try cluster.startWorker("slow")
        let slide = try cluster.synth(width: 800, height: 600, seed: 2)
        // Upload (as from another machine), then walk away.
        let submit = try cluster.startSubmit([slide, "--out", cluster.folder + "/never.tiff", "--upload"])
        #expect(submit.waitForError("job 1"))
        usleep(300_000)
        submit.signal(SIGKILL)
        let attached = try cluster.submit(["--attach", "1", "--out", cluster.folder + "/m.tiff"])
        #expect(attached.status == 0, "\(attached.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
        #expect(!FileManager.default.fileExists(atPath: cluster.folder + "/never.tiff"))
        // The coordinator's copy of the slide went with the job; its mask stays to collect.
        #expect(!FileManager.default.fileExists(atPath: cluster.folder + "/state/job-1/slide.tiff"))
        #expect(FileManager.default.fileExists(atPath: cluster.folder + "/state/job-1/mask.tiff"))
    }

    /// A job's folder goes keep_results seconds after it ended (the slide read in place
    /// stays); attaching to it then says why, and the tile counter does not go back.
    @Test func resultsGoAfterKeepResults() throws {
        let cluster = try ClusterHarness(members: Self.oneMember, extra: "keep_results = 1")
        try cluster.startCoordinator()
        try cluster.startWorker("half")
        let slide = try cluster.synth(width: 300, height: 200, seed: 5)
        let submitted = try cluster.submit([slide, "--out", cluster.folder + "/a.tiff"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        func tilesDone() throws -> Int? {
            try cluster.metrics().split(separator: "\n").first { $0.hasPrefix("tessera_tiles_done_total ") }
                .flatMap { Int($0.split(separator: " ")[1]) }
        }
        let tiles = try tilesDone()
        #expect((tiles ?? 0) > 0)
        let deadline = Date().addingTimeInterval(20)
        while FileManager.default.fileExists(atPath: cluster.folder + "/state/job-1") && Date() < deadline { usleep(100_000) }
        #expect(!FileManager.default.fileExists(atPath: cluster.folder + "/state/job-1"))
        #expect(FileManager.default.fileExists(atPath: slide))
        let status = try TesseraBinary.run(["status", "--config", cluster.configPath])
        #expect(status.stdout.contains("jobs: 0"), "\(status.stdout)")
        let late = try cluster.submit(["--attach", "1", "--out", cluster.folder + "/late.tiff"])
        #expect(late.status != 0 && late.stderr.contains("job 1 was removed"), "\(late.stderr)")
        #expect(try tilesDone() == tiles)
    }

    @Test func workersStartBeforeTheCoordinatorAndSurviveItsRestart() throws {
        let cluster = try ClusterHarness(members: Self.oneMember)
        let worker = try cluster.startWorker("half", waitForRegistration: false)
        usleep(300_000)
        let first = try cluster.startCoordinator()
        #expect(worker.waitForError("registered", timeout: 20), "\(worker.stderr)")
        let slide = try cluster.synth(width: 300, height: 200, seed: 5)
        #expect(try cluster.submit([slide, "--out", cluster.folder + "/a.tiff"]).status == 0)
        first.stop()
        try cluster.startCoordinator()
        // The worker notices the silence, reconnects with back-off and registers again.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && worker.stderr.components(separatedBy: "registered").count < 3 { usleep(100_000) }
        #expect(worker.stderr.components(separatedBy: "registered").count >= 3, "\(worker.stderr)")
        let again = try cluster.submit([slide, "--out", cluster.folder + "/b.tiff"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/a.tiff") == ClusterHarness.pixels(cluster.folder + "/b.tiff"))
    }

    /// The coordinator is killed mid-slide and started again on the same state directory:
    /// it takes back the running job, the waiting client asks for it again, and the mask is
    /// unchanged. A finished job survives the restart too.
    @Test func aCoordinatorKilledMidSlideKeepsItsJobs() throws {
        let cluster = try ClusterHarness(
            members: """
                [member slow]
                architecture = constant
                value = 0.7
                delay = 0.02
                """)
        let coordinator = try cluster.startCoordinator()
        let worker = try cluster.startWorker("slow")
        let small = try cluster.synth(width: 200, height: 150, seed: 6)
        #expect(try cluster.submit([small, "--out", cluster.folder + "/small.tiff"]).status == 0)
        let slide = try cluster.synth(width: 1200, height: 900, seed: 9)
        let submit = try cluster.startSubmit([slide, "--out", cluster.folder + "/m.tiff"])
        let going = try cluster.waitForRunningJob(tilesDone: 10)
        #expect(going, "the job never got going")
        coordinator.signal(SIGKILL)
        _ = coordinator.wait(timeout: 10)
        let second = try cluster.startCoordinator()
        #expect(second.waitForError("took back 2 job(s)"), "\(second.stderr)")
        #expect(submit.wait(timeout: 120) == 0, "\(submit.stderr)")
        #expect(submit.stderr.contains("asking for the job again"), "\(submit.stderr)")
        #expect(worker.isRunning)
        #expect(try ClusterHarness.pixels(cluster.folder + "/m.tiff") == ClusterHarness.pixels(try cluster.reference(slide)))
        // The job finished before the crash can still be collected.
        let again = try cluster.submit(["--attach", "1", "--out", cluster.folder + "/small-again.tiff"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try ClusterHarness.pixels(cluster.folder + "/small-again.tiff") == ClusterHarness.pixels(cluster.folder + "/small.tiff"))
        // A second coordinator cannot share the state directory.
        let intruder = try TesseraBinary.run(["coordinator", "--config", cluster.configPath], timeout: 20)
        #expect(intruder.status != 0 && intruder.stderr.contains("another coordinator"), "\(intruder.stderr)")
    }

    @Test func aMemberWithoutWorkersHoldsTheJobUntilTheDeadline() throws {
        let cluster = try ClusterHarness(members: Self.twoMembers, extra: "member_deadline = 1.5")
        try cluster.startCoordinator()
        try cluster.startWorker("stain")
        let slide = try cluster.synth(width: 300, height: 300, seed: 1)
        let result = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no worker of member half joined within 1 s"), "\(result.stderr)")
    }

    @Test func workersRefuseToStartWithAnUnknownMemberOrMissingWeights() throws {
        let cluster = try ClusterHarness(
            members: Self.twoMembers + """

                [member ghost]
                architecture = stain
                weights = /nonexistent/ghost.safetensors
                """)
        let unknown = try TesseraBinary.run(["worker", "--config", cluster.configPath, "--member", "nope"], timeout: 20)
        #expect(unknown.status != 0 && unknown.stderr.contains("no member \"nope\""), "\(unknown.stderr)")
        let ghost = try TesseraBinary.run(["worker", "--config", cluster.configPath, "--member", "ghost"], timeout: 20)
        #expect(ghost.status != 0 && ghost.stderr.contains("do not exist"), "\(ghost.stderr)")
    }

    @Test func workersRefuseWeightsOfTheWrongShapeOrArchitecture() throws {
        let cluster = try ClusterHarness(members: "[member placeholder]\narchitecture = constant")
        let b3 = cluster.folder + "/b3.safetensors", b0 = cluster.folder + "/b0.safetensors"
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b3", "--out", b3]).status == 0)
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b0", "--out", b0]).status == 0)
        try cluster.writeConfig(
            cluster.configPath,
            members: """
                [member b0]
                architecture = effunet-b0
                weights = \(b3)

                [member unet]
                architecture = unext50
                weights = \(b0)

                [member bare]
                architecture = effunet-b0
                """)
        let shape = try TesseraBinary.run(["worker", "--config", cluster.configPath, "--member", "b0"], timeout: 60)
        #expect(shape.status != 0 && shape.stderr.contains("has shape") && shape.stderr.contains("the model needs"), "\(shape.stderr)")
        let other = try TesseraBinary.run(["worker", "--config", cluster.configPath, "--member", "unet"], timeout: 60)
        #expect(other.status != 0 && other.stderr.contains("missing weight enc0.0.weight"), "\(other.stderr)")
        // A CNN member without weights starts from untrained deterministic ones (to be trained
        // on the cluster from scratch), and says so.
        let bare = try cluster.startWorker("bare", waitForRegistration: false)
        #expect(bare.waitForError("serves tiles with untrained"), "\(bare.stderr)")
    }

    @Test func curveShutsOutPeersWithoutAnAuthorisedKey() throws {
        let keys = try TesseraBinary.run(["keys"]).stdout
        let other = try TesseraBinary.run(["keys"]).stdout
        let cluster = try ClusterHarness(members: Self.twoMembers, security: keys)
        let coordinator = try cluster.startCoordinator()
        try cluster.startWorker("stain")
        try cluster.startWorker("half")
        let slide = try cluster.synth(width: 300, height: 200, seed: 6)
        let ok = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(ok.status == 0, "\(ok.stderr)")

        // A client with keys of its own, and one with none, get no answer.
        func line(_ section: String, _ key: String) -> String { section.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map(String.init)! }
        let forged = keys.replacingOccurrences(of: line(keys, "client_public"), with: line(other, "client_public"))
            .replacingOccurrences(of: line(keys, "client_secret"), with: line(other, "client_secret"))
        try cluster.writeConfig(cluster.folder + "/forged.conf", members: Self.twoMembers, security: forged)
        try cluster.writeConfig(cluster.folder + "/plain.conf", members: Self.twoMembers)
        for config in ["forged.conf", "plain.conf"] {
            let status = try TesseraBinary.run(["status", "--config", cluster.folder + "/" + config, "--timeout", "1.5"])
            #expect(status.status != 0 && status.stderr.contains("no answer"), "\(config): \(status.stdout) \(status.stderr)")
        }
        // A worker holding the client's keys instead of the worker's cannot join.
        let wrongWorker = keys.replacingOccurrences(of: line(keys, "worker_public"), with: line(other, "worker_public"))
            .replacingOccurrences(of: line(keys, "worker_secret"), with: line(other, "worker_secret"))
        try cluster.writeConfig(cluster.folder + "/wrong-worker.conf", members: Self.twoMembers, security: wrongWorker)
        let intruder = try cluster.startWorker("half", config: cluster.folder + "/wrong-worker.conf", waitForRegistration: false)
        #expect(coordinator.waitForError("refused a CURVE connection", timeout: 10))
        #expect(!intruder.stderr.contains("registered"))
    }

    @Test func hostileFramesNeverStopTheCoordinator() throws {
        let cluster = try ClusterHarness(members: Self.oneMember)
        let coordinator = try cluster.startCoordinator()
        let context = try ZMQContext()
        let garbage: [[[UInt8]]] = [
            [(0..<100).map { UInt8(truncatingIfNeeded: $0 * 7) }],
            [[0x54, 0x53, WireHeader.version, 1], Array("{not json".utf8)],
            [[0x54, 0x53, 9, 1], Array("{}".utf8)],
            [[0x54, 0x53, WireHeader.version, 200], []],
            [[0x54, 0x53, WireHeader.version, 6], [1, 2, 3], [4, 5]],
            [[0x54, 0x53, WireHeader.version, 6], Array(repeating: 0, count: 33), Array(repeating: 0, count: 10)],
            [[0x54, 0x53, WireHeader.version, 20], Array(#"{"name":"x","path":"/etc/passwd","size":1,"digest":"0"}"#.utf8)],
            [[0x54, 0x53, WireHeader.version, 22], Array(#"{"job":99,"content":"mask","offset":0,"size":5}"#.utf8)],
            [[0x54, 0x53, WireHeader.version, 23], Array(#"{"job":1,"content":"slide","offset":0}"#.utf8), [1, 2, 3]],
            [[0x54, 0x53, WireHeader.version, 27], Array(#"{"job":12345}"#.utf8)],
            [[0x54, 0x53, WireHeader.version]],
            [Array(repeating: 0xFF, count: 8 << 20)],
        ]
        // The sockets stay open until the coordinator has read everything: closing one (with
        // no linger) would drop what it has not yet written out.
        var sockets: [ZMQSocket] = []
        for endpoint in ["ipc://\(cluster.folder)/w.sock", "ipc://\(cluster.folder)/c.sock"] {
            let socket = try ZMQSocket(context: context, type: .dealer)
            try socket.connect(endpoint)
            for message in garbage { try socket.send(message) }
            // And a well-formed register for a member that does not exist.
            try socket.send(
                WireCodec.frames(
                    .register,
                    Wire.Register(
                        protocolVersion: Int(WireHeader.version), member: "nope", architecture: "constant", weightsDigest: "", threads: 1, name: "intruder",
                        tileSides: Wire.TileSides(multiple: 1, minimum: 16, maximum: 128))))
            sockets.append(socket)
        }
        withExtendedLifetime(sockets) { usleep(500_000) }
        #expect(coordinator.isRunning)
        try cluster.startWorker("half")
        let slide = try cluster.synth(width: 400, height: 300, seed: 9)
        let result = try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(coordinator.stderr.contains("dropped"))
    }

    /// A worker or client of another protocol version is told why, in its own version's
    /// framing, rather than left retrying unanswered.
    @Test func peersOfAnotherProtocolVersionAreToldWhy() throws {
        let cluster = try ClusterHarness(members: Self.oneMember)
        let coordinator = try cluster.startCoordinator()
        let context = try ZMQContext()
        let old = WireHeader.version - 1
        for (endpoint, kind, body, answer) in [
            (
                "w.sock", WireKind.register, #"{"protocolVersion":1,"member":"half","architecture":"constant","weightsDigest":"","threads":1,"name":"old"}"#,
                WireKind.refuse
            ),
            ("c.sock", WireKind.submit, #"{"name":"a.tiff","path":"/tmp/a.tiff","size":1,"digest":"0"}"#, WireKind.error),
        ] {
            let socket = try ZMQSocket(context: context, type: .dealer)
            try socket.connect("ipc://\(cluster.folder)/\(endpoint)")
            try socket.send([[0x54, 0x53, old, kind.rawValue], Array(body.utf8)])
            let ready = try ZMQPoller.pollIn([socket], timeoutMilliseconds: 10_000)[0]
            #expect(ready, "no answer to a version-\(old) \(kind)")
            guard ready, let reply = try socket.receive() else { continue }
            #expect(reply.first == [0x54, 0x53, old, answer.rawValue])
            let reason = try WireCodec.decode(Wire.Reason.self, reply.last ?? []).get().reason
            #expect(reason.contains("protocol version \(old)"), "\(reason)")
        }
        #expect(coordinator.isRunning)
    }

    @Test func hostileFramesNeverStopAWorker() throws {
        let cluster = try ClusterHarness(
            members: """
                [member half]
                architecture = constant
                value = 0.25
                """)
        // The test plays the coordinator.
        let coordinator = try FakePeer(routerAt: "ipc://\(cluster.folder)/w.sock")
        let worker = try cluster.startWorker("half", waitForRegistration: false)
        func receive(_ kind: WireKind) throws -> [[UInt8]]? { try coordinator.receive(kind) }
        let register = try #require(try receive(.register))
        let identity = register[0]
        for message: [[UInt8]] in [
            [(0..<50).map { UInt8($0) }],
            [[0x54, 0x53, WireHeader.version, 5], [1, 2, 3], [4]],
            [[0x54, 0x53, WireHeader.version, 5], Array(repeating: 0, count: 34), Array(repeating: 0, count: 17)],
            [[0x54, 0x53, WireHeader.version, 2], Array("garbage".utf8)],
            [[0x54, 0x53, WireHeader.version, 77], []],
            [Array(repeating: 0xAB, count: 4 << 20)],
        ] { try coordinator.send([identity] + message) }
        // The oversized frame makes the worker's libzmq drop the connection; it reconnects
        // by itself and, not yet welcomed, registers again.
        let again = try #require(try receive(.register), "\(worker.stderr)")
        let newIdentity = again[0]
        try coordinator.send([newIdentity] + WireCodec.frames(.welcome, Wire.Welcome(heartbeatMilliseconds: 200, liveness: 3, credit: 4)))
        let pixels = [UInt8](repeating: 128, count: 128 * 128 * 3)
        try coordinator.send(
            [newIdentity]
                + WireCodec.frames(Wire.TileRequest(job: 7, request: 42, row: 1, column: 2, size: 128, encoding: .uint8, flips: .none), pixels: pixels))
        let reply = try #require(try receive(.result))
        guard case .success(let (_, body)) = WireCodec.open(Array(reply.dropFirst())), case .success(let (result, map)) = WireCodec.result(body) else {
            Issue.record("malformed result")
            return
        }
        #expect(result.request == 42 && result.job == 7 && result.row == 1 && result.column == 2)
        #expect(map == [UInt8](repeating: 64, count: 128 * 128))  // 0.25 × 255 rounded
        #expect(worker.isRunning)
        #expect(worker.stderr.contains("dropped"))
    }
}
