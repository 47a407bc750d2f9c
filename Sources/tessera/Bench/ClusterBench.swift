import ArgumentParser
import Client
import Core
import Engine
import Foundation
import Members
import Segmentation
import Shared
import Tiling
import ZeroMQ

/// `tessera bench cluster`: end-to-end throughput of a local cluster, beside raw ZeroMQ.
struct ClusterBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Measure a local cluster: tiles/s end to end with constant members, beside raw ZeroMQ loopback throughput.",
        discussion: """
            Starts a coordinator and --workers workers (child processes of this binary) on loopback, \
            segments a synthetic slide --repeats times and reports the median tiles/s from submission \
            to finished mask, the coordinator's peak RSS, and raw ZeroMQ throughput for 1 MB messages \
            measured in the same run. The coordinator's CPU is also given thread by thread (from its \
            metrics): the busiest thread bounds the rate it could sustain with cores to spare. With \
            --member stain or a CNN (deterministic weights are written for it) the workers run that \
            model, and `tessera infer` on the same slide is timed for comparison.
            """
    )

    @Option(help: "Slide side in pixels.") var size = 8192
    @Option(help: "Tile side.") var tile = 512
    @Option(help: "Context margin.") var margin = 64
    @Option(help: "Workers to start.") var workers = 2
    @Option(help: "Member architecture: constant, stain, or a CNN (effunet-b0 … unext50).") var member = "constant"
    @Option(help: "Map encoding: uint8 or float16.") var maps = "float16"
    @Option(help: "Transport: tcp or ipc.") var transport = "tcp"
    @Option(help: "Runs; the median is reported.") var repeats = 3
    @Option(help: "Slide compression: deflate or none.") var compression = "deflate"
    @Option(help: "Use this slide instead of synthesising one.") var slide: String?
    @Option(
        help:
            "Folder for the slide and the cluster's files, kept: the next run with the same --size and --compression uses the same slide (default: a temporary folder, removed at the end)."
    )
    var folder: String?
    @Option(help: "The coordinator's slide_readers: threads decoding the slide (default: its own choice for this machine).")
    var slideReaders: Int?

    func validate() throws {
        guard MemberFactory.names.contains(member) else {
            throw ValidationError("--member must be one of \(MemberFactory.names.joined(separator: ", "))")
        }
        guard ["tcp", "ipc"].contains(transport) else { throw ValidationError("--transport must be tcp or ipc") }
        guard MapEncoding(name: maps) != nil else { throw ValidationError("--maps must be uint8 or float16") }
        guard (1...64).contains(workers), repeats >= 1 else { throw ValidationError("--workers 1…64, --repeats ≥ 1") }
        guard slideReaders.map({ (1...16).contains($0) }) ?? true else { throw ValidationError("--slide-readers must be 1…16") }
    }

    func run() throws {
        let folder = self.folder ?? NSTemporaryDirectory() + "tessera-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Runs last, after the children below have stopped.
        defer { if self.folder == nil { try? FileManager.default.removeItem(atPath: folder) } }
        print(BenchMachine.line)
        try Self.printZeroMQThroughput()
        let cluster = try LocalCluster(bench: self, folder: folder)
        defer { cluster.stop() }
        let runs = try measure(cluster, folder: folder)
        report(runs, cluster: cluster)
        if member != "constant" { try compareWithInfer(cluster, folder: folder, clusterSeconds: runs.medianSeconds) }
    }

    /// The reference: raw ZeroMQ loopback, 1 MB messages, median of 3.
    private static func printZeroMQThroughput() throws {
        print("raw ZeroMQ loopback, 1 MB messages (median of 3):")
        for transport in ["tcp", "ipc"] {
            let rates = try (0..<3).map { _ in try ZeroMQThroughput.measure(transport: transport) }.sorted()
            print(String(format: "  %@: %.2f GB/s", transport, rates[1] / 1e9))
        }
    }

    /// A coordinator and the workers as child processes of this binary, on the slide.
    final class LocalCluster {
        let slidePath: String
        let configPath: String
        let config: ClusterConfig
        let client: ClusterClient
        private(set) var children: [Process] = []
        var coordinator: Process { children[0] }
        var workerProcesses: ArraySlice<Process> { children.dropFirst() }
        private let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

        init(bench: ClusterBench, folder: String) throws {
            if let slide = bench.slide {
                slidePath = slide
            } else {
                // Named by what makes it, so a kept folder's slide serves the next run (the
                // writer renames a finished file into place: one that exists is whole).
                let id = "bench-\(bench.size)-\(bench.compression)"
                let kept = (folder as NSString).appendingPathComponent(id + ".tiff")
                if FileManager.default.fileExists(atPath: kept) {
                    ProgressReporter.note("using the slide synthesised earlier, \(kept)")
                    slidePath = kept
                } else {
                    ProgressReporter.note("synthesising a \(bench.size)×\(bench.size) slide in \(folder)")
                    slidePath = try SyntheticSlideWriter.write(
                        SyntheticSlide(width: bench.size, height: bench.size, seed: 1), to: folder, id: id,
                        compression: TiledImageWriter.Compression(rawValue: bench.compression) ?? .deflate
                    ).slidePath
                }
            }
            var weightsPath: String?
            if CNNModel.architectures.contains(bench.member) {
                let path = folder + "/\(bench.member).safetensors"
                try DeterministicWeights.write(architecture: bench.member, to: path)
                weightsPath = path
            }
            configPath = folder + "/bench.conf"
            try bench.configText(folder: folder, weights: weightsPath).write(toFile: configPath, atomically: true, encoding: .utf8)
            config = try ClusterConfig(contentsOf: configPath)
            client = try ClusterClient(config: config)
            _ = try spawn(["coordinator", "--config", configPath])
            // Workers share the machine's cores: each gets its share of engine threads.
            let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / bench.workers)
            for _ in 0..<bench.workers {
                _ = try spawn(["worker", "--config", configPath, "--member", bench.member, "--threads", "\(threads)"])
            }
            let deadline = Date().addingTimeInterval(30)
            while (try? client.status().workers.count) ?? 0 < bench.workers {
                guard Date() < deadline else {
                    stop()
                    throw TesseraError("bench", "the workers did not register within 30 s", code: .timeout)
                }
                usleep(100_000)
            }
        }

        func spawn(_ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            children.append(process)
            return process
        }

        func stop() {
            for child in children where child.isRunning {
                child.terminate()
                child.waitUntilExit()
            }
        }

        /// CPU seconds so far of the coordinator, the workers together, this process and the machine.
        func cpu() -> (coordinator: Double, workers: Double, client: Double, machine: Double) {
            (
                CPUTime.seconds(pid: coordinator.processIdentifier) ?? 0,
                workerProcesses.reduce(0) { $0 + (CPUTime.seconds(pid: $1.processIdentifier) ?? 0) },
                CPUTime.seconds() ?? 0, CPUTime.machineBusySeconds() ?? 0
            )
        }
    }

    /// What the repeats measured.
    struct Runs {
        var rates: [Double] = [], seconds: [Double] = []
        var tiles = 0
        var cpuBefore = (coordinator: 0.0, workers: 0.0, client: 0.0, machine: 0.0)
        var cpuAfter = (coordinator: 0.0, workers: 0.0, client: 0.0, machine: 0.0)
        var threadsBefore: [String: Double] = [:], threadsAfter: [String: Double] = [:]
        var medianRate: Double { rates.sorted()[rates.count / 2] }
        var medianSeconds: Double { seconds.sorted()[seconds.count / 2] }
    }

    /// The slide segmented `repeats` times, timed from acceptance to the finished mask.
    private func measure(_ cluster: LocalCluster, folder: String) throws -> Runs {
        var runs = Runs()
        runs.cpuBefore = cluster.cpu()
        runs.threadsBefore = try coordinatorThreadCPU(cluster.config)
        for run in 0..<repeats {
            var start = Date()
            let outcome = try cluster.client.run(
                slidePath: cluster.slidePath, attach: nil, maskPath: folder + "/mask-\(run).tiff", wantRLE: false,
                progress: { _ in }, accepted: { _ in start = Date() })
            let elapsed = Date().timeIntervalSince(start)
            // The slide's tiles, also when the job ended before its first progress report.
            runs.tiles = try cluster.config.settings.plan(width: outcome.finished.width, height: outcome.finished.height).tileCount
            runs.seconds.append(elapsed)
            runs.rates.append(Double(runs.tiles) / elapsed)
        }
        runs.cpuAfter = cluster.cpu()
        runs.threadsAfter = try coordinatorThreadCPU(cluster.config)
        return runs
    }

    /// Tiles/s, bandwidth, memory, and where the CPU went, per tile and per coordinator thread.
    private func report(_ runs: Runs, cluster: LocalCluster) {
        let peak = PeakMemory.megabytes(pid: cluster.coordinator.processIdentifier)
        print("cluster: \(workers) \(member) worker(s), \(transport), \(runs.tiles) tiles of \(tile) (margin \(margin)), maps \(maps):")
        print(
            String(
                format: "  median %.2f s a slide: %.1f tiles/s end to end (runs: %@)", runs.medianSeconds, runs.medianRate,
                runs.rates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        // Pixels out, and the map back without the border the window ignores.
        let side = tile - 2 * cluster.config.settings.mapInset
        let tileBytes = Double(tile * tile * 3 + side * side * (maps == "uint8" ? 1 : 2))
        print(String(format: "  = %.2f GB/s of tiles and maps through the coordinator", runs.medianRate * tileBytes / 1e9))
        print(String(format: "  coordinator peak RSS: %.0f MB", peak))
        // Where the time goes: CPU per tile of each process, against the cores there are.
        let allTiles = Double(runs.tiles * repeats), wall = runs.seconds.reduce(0, +)
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let (before, after) = (runs.cpuBefore, runs.cpuAfter)
        let perTile = (
            coordinator: (after.coordinator - before.coordinator) / allTiles * 1000,
            workers: (after.workers - before.workers) / allTiles * 1000,
            client: (after.client - before.client) / allTiles * 1000
        )
        let total = perTile.coordinator + perTile.workers + perTile.client
        print(
            String(
                format: "  CPU per tile: coordinator %.2f ms, workers %.2f ms, client %.2f ms = %.2f ms; %.0f cores allow at most %.0f tiles/s",
                perTile.coordinator, perTile.workers, perTile.client, total, cores, total > 0 ? cores / total * 1000 : 0))
        print(String(format: "  machine busy during the runs: %.2f of %.0f cores", (after.machine - before.machine) / wall, cores))
        let byThread = runs.threadsAfter.map { (name: $0.key, ms: ($0.value - (runs.threadsBefore[$0.key] ?? 0)) / allTiles * 1000) }
            .sorted { $0.ms > $1.ms }
        print("  coordinator CPU per tile by thread: " + byThread.map { String(format: "%@ %.2f ms", $0.name, $0.ms) }.joined(separator: ", "))
        if let busiest = byThread.first(where: { $0.name != "libzmq and other" }), busiest.ms > 0 {
            print(
                String(
                    format: "  busiest coordinator thread: %@, %.2f ms a tile; with a core for each thread it could sustain at most %.0f tiles/s",
                    busiest.name, busiest.ms, 1000 / busiest.ms))
        }
    }

    /// `tessera infer` of the same slide with the same configuration, for a model that computes.
    private func compareWithInfer(_ cluster: LocalCluster, folder: String, clusterSeconds: Double) throws {
        var inferSeconds: [Double] = []
        for _ in 0..<repeats {
            let start = Date()
            let infer = try cluster.spawn(["infer", cluster.slidePath, "--config", cluster.configPath, "--out", folder + "/infer.tiff", "--quiet"])
            infer.waitUntilExit()
            inferSeconds.append(Date().timeIntervalSince(start))
        }
        let inferMedian = inferSeconds.sorted()[inferSeconds.count / 2]
        print(String(format: "  tessera infer (one process): median %.2f s; cluster / infer = %.2f", inferMedian, clusterSeconds / inferMedian))
    }

    private func coordinatorThreadCPU(_ config: ClusterConfig) throws -> [String: Double] {
        guard let endpoint = config.metricsEndpoint else { return [:] }
        let prefix = "tessera_cpu_seconds_total{thread=\""
        var seconds: [String: Double] = [:]
        for line in try ClusterSockets.metrics(endpoint: endpoint).split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\""), let value = rest.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            seconds[String(rest[..<quote])] = value
        }
        return seconds
    }

    fileprivate func configText(folder: String, weights: String?) throws -> String {
        func endpoint(_ name: String) throws -> String {
            if transport == "ipc" { return "ipc://\(folder)/\(name).sock" }
            // Let the system pick a free port, then hand it to the coordinator.
            let context = try ZMQContext()
            let probe = try ZMQSocket(context: context, type: .router)
            try probe.bind("tcp://127.0.0.1:*")
            return try probe.lastEndpoint
        }
        return """
            [coordinator]
            workers = \(try endpoint("w"))
            clients = \(try endpoint("c"))
            metrics = \(try endpoint("m"))
            state = \(folder)/state
            \(slideReaders.map { "slide_readers = \($0)" } ?? "")
            [inference]
            tile = \(tile)
            margin = \(margin)
            maps = \(maps)
            [member \(member)]
            architecture = \(member)
            \(weights.map { "weights = " + $0 } ?? "")
            """
    }
}
