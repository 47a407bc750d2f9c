import ArgumentParser
import Coordinator
import Core
import Engine
import Foundation
import Segmentation
import Shared
import Worker
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
    @Option(help: "Folder for the slide and the cluster's files, kept for the next run (default: a temporary folder, removed at the end).")
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
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

        print("raw ZeroMQ loopback, 1 MB messages (median of 3):")
        for transport in ["tcp", "ipc"] {
            let rates = try (0..<3).map { _ in try ZeroMQThroughput.measure(transport: transport) }.sorted()
            print(String(format: "  %@: %.2f GB/s", transport, rates[1] / 1e9))
        }

        let slidePath: String
        if let slide {
            slidePath = slide
        } else {
            ProgressReporter.note("synthesising a \(size)×\(size) slide in \(folder)")
            slidePath = try SyntheticSlideWriter.write(
                SyntheticSlide(width: size, height: size, seed: 1), to: folder,
                compression: TiledImageWriter.Compression(rawValue: compression) ?? .deflate
            ).slidePath
        }
        var weightsPath: String?
        if CNNModel.architectures.contains(member) {
            let path = folder + "/\(member).safetensors"
            try DeterministicWeights.write(architecture: member, to: path)
            weightsPath = path
        }
        let configPath = folder + "/bench.conf"
        try configText(folder: folder, weights: weightsPath).write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try ClusterConfig(contentsOf: configPath)

        var children: [Process] = []
        defer { for child in children where child.isRunning { child.terminate(); child.waitUntilExit() } }
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
        let coordinator = try spawn(["coordinator", "--config", configPath])
        // Workers share the machine's cores: each gets its share of engine threads.
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / workers)
        for _ in 0..<workers { _ = try spawn(["worker", "--config", configPath, "--member", member, "--threads", "\(threads)"]) }
        let client = try ClusterClient(config: config)
        let deadline = Date().addingTimeInterval(30)
        while (try? client.status().workers.count) ?? 0 < workers {
            guard Date() < deadline else { throw TesseraError("bench", "the workers did not register within 30 s") }
            usleep(100_000)
        }

        var rates: [Double] = [], seconds: [Double] = []
        var tiles = 0
        let workerProcesses = children.dropFirst()
        func cpu() -> (coordinator: Double, workers: Double, client: Double, machine: Double) {
            (
                CPUTime.seconds(pid: coordinator.processIdentifier) ?? 0,
                workerProcesses.reduce(0) { $0 + (CPUTime.seconds(pid: $1.processIdentifier) ?? 0) },
                CPUTime.seconds() ?? 0, CPUTime.machineBusySeconds() ?? 0
            )
        }
        let cpuBefore = cpu()
        let threadsBefore = try coordinatorThreadCPU(config)
        for run in 0..<repeats {
            var start = Date()
            let outcome = try client.run(
                slidePath: slidePath, attach: nil, maskPath: folder + "/mask-\(run).tiff", wantRLE: false,
                progress: { tiles = $0.tilesTotal }, accepted: { _ in start = Date() })
            let elapsed = Date().timeIntervalSince(start)
            _ = outcome
            seconds.append(elapsed)
            rates.append(Double(tiles) / elapsed)
        }
        let cpuAfter = cpu()
        let threadsAfter = try coordinatorThreadCPU(config)
        let peak = PeakMemory.megabytes(pid: coordinator.processIdentifier)
        let median = rates.sorted()[rates.count / 2]
        let medianSeconds = seconds.sorted()[seconds.count / 2]
        print("cluster: \(workers) \(member) worker(s), \(transport), \(tiles) tiles of \(tile) (margin \(margin)), maps \(maps):")
        print(
            String(
                format: "  median %.2f s a slide: %.1f tiles/s end to end (runs: %@)", medianSeconds, median,
                rates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        // Pixels out, and the map back without the border the window ignores.
        let side = tile - 2 * config.settings.mapInset
        let tileBytes = Double(tile * tile * 3 + side * side * (maps == "uint8" ? 1 : 2))
        print(String(format: "  = %.2f GB/s of tiles and maps through the coordinator", median * tileBytes / 1e9))
        print(String(format: "  coordinator peak RSS: %.0f MB", peak))
        // Where the time goes: CPU per tile of each process, against the cores there are.
        let allTiles = Double(tiles * repeats), wall = seconds.reduce(0, +), cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let perTile = (
            coordinator: (cpuAfter.coordinator - cpuBefore.coordinator) / allTiles * 1000,
            workers: (cpuAfter.workers - cpuBefore.workers) / allTiles * 1000,
            client: (cpuAfter.client - cpuBefore.client) / allTiles * 1000
        )
        let total = perTile.coordinator + perTile.workers + perTile.client
        print(
            String(
                format: "  CPU per tile: coordinator %.2f ms, workers %.2f ms, client %.2f ms = %.2f ms; %.0f cores allow at most %.0f tiles/s",
                perTile.coordinator, perTile.workers, perTile.client, total, cores, total > 0 ? cores / total * 1000 : 0))
        print(String(format: "  machine busy during the runs: %.2f of %.0f cores", (cpuAfter.machine - cpuBefore.machine) / wall, cores))
        let byThread = threadsAfter.map { (name: $0.key, ms: ($0.value - (threadsBefore[$0.key] ?? 0)) / allTiles * 1000) }
            .sorted { $0.ms > $1.ms }
        print("  coordinator CPU per tile by thread: " + byThread.map { String(format: "%@ %.2f ms", $0.name, $0.ms) }.joined(separator: ", "))
        if let busiest = byThread.first(where: { $0.name != "libzmq and other" }), busiest.ms > 0 {
            print(
                String(
                    format: "  busiest coordinator thread: %@, %.2f ms a tile; with a core for each thread it could sustain at most %.0f tiles/s",
                    busiest.name, busiest.ms, 1000 / busiest.ms))
        }

        if member != "constant" {
            var inferSeconds: [Double] = []
            for _ in 0..<repeats {
                let start = Date()
                let infer = try spawn(["infer", slidePath, "--config", configPath, "--out", folder + "/infer.tiff", "--quiet"])
                infer.waitUntilExit()
                inferSeconds.append(Date().timeIntervalSince(start))
            }
            let inferMedian = inferSeconds.sorted()[inferSeconds.count / 2]
            print(String(format: "  tessera infer (one process): median %.2f s; cluster / infer = %.2f", inferMedian, medianSeconds / inferMedian))
        }
    }

    /// CPU seconds by coordinator thread, from its metrics endpoint.
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

    private func configText(folder: String, weights: String?) throws -> String {
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
