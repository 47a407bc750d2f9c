import ArgumentParser
import Client
import Coordinator
import Core
import Engine
import Foundation
import HTTPStatus
import Segmentation
import Shared
import Tiling
import Worker
import ZeroMQ

/// Options every cluster command shares.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The cluster configuration (docs/CONFIG.md).") var config: String = "cluster.conf"
    @Option(help: "Log lines as text, or json (one object a line, for log collectors); default: TESSERA_LOG_FORMAT, else text.")
    var logFormat: Log.Format?

    /// The configuration; also sets the process's log format, before anything logs.
    func load() throws -> ClusterConfig {
        if let logFormat { Log.format = logFormat }
        return try ClusterConfig(contentsOf: config)
    }
}

/// `tessera coordinator`.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: accept workers and clients, run submitted slides in order.",
        discussion:
            "Binds the worker and client endpoints of the configuration; stops on SIGINT or SIGTERM. Prints 'ready ...' on stderr once bound. Jobs are recorded in the configuration's state folder: a coordinator started again on that folder takes them back (finished ones can still be collected, unfinished ones run again), and no second coordinator may share it. A finished job's mask and RLE stay there for keep_results seconds (a week by default); an uploaded slide is deleted when its job ends."
    )
    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        StopSignal.install()
        HeapRetention.enableOnce()
        let config = try cluster.load()
        let server = try CoordinatorServer(config: config)
        // The operator's window: /metrics for Prometheus and the status page, from the
        // snapshot the socket thread publishes each second.
        var http: StatusHTTPServer?
        if let settings = config.http {
            let published = server.published
            http = try StatusHTTPServer(
                host: settings.host, port: settings.port, token: settings.token,
                routes: .init(metrics: { published.metrics() }, status: { published.status() }))
            Log("coordinator").info("status page and /metrics at \(http!.address)\(settings.token == nil ? "" : " (token needed)")")
        }
        defer { http?.stop() }
        try server.run()
    }
}

/// `tessera worker`.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker hosting one ensemble member.",
        discussion:
            "Loads the member's model first and refuses to start if it cannot; then connects (before or after the coordinator starts), registers, and predicts the tiles it is sent. Reconnects with back-off when the coordinator goes away. While a training run of its member is on (tessera train --config), it trains with the member's other workers instead of taking tiles, summing gradients with them over a ring socket bound at --ring-bind, and reads the run's data folder at the path tessera train gave."
    )
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The member to host (a [member NAME] of the configuration).") var member: String
    @Option(help: "The coordinator's worker endpoint, if not the configuration's.") var coordinator: String?
    @Option(help: "Threads a tile runs on; results are the same whatever the number. Default: this machine's cores.") var threads = ProcessInfo.processInfo
        .activeProcessorCount
    @Option(
        help:
            "Where this worker's training ring socket binds: an endpoint its peers can reach (tcp://HOST-ADDRESS:* on a multi-host cluster; * picks a free port). On loopback the socket is also bound to an abstract Unix socket, which peers on the same machine use."
    ) var ringBind = "tcp://127.0.0.1:*"

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be between 1 and 1024") }
    }

    func run() throws {
        StopSignal.install()
        HeapRetention.enableOnce()
        CNNModel.setThreads(threads)
        let node = try WorkerNode(config: try cluster.load(), memberName: member, endpoint: coordinator, threads: threads, ringBind: ringBind)
        try node.run()
    }
}

/// `tessera submit`.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Segment a slide on the cluster and fetch its mask.",
        discussion:
            "The coordinator reads the slide in place when it sees the same file at the same path; otherwise the slide is uploaded. If this command is interrupted the job goes on: collect it with --attach JOB. If the coordinator restarts meanwhile, this command waits and asks for its job again (a restarted coordinator keeps its jobs)."
    )
    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The slide (TIFF); omit with --attach.") var slide: String?
    @Option(help: "The mask TIFF to write.") var out: String
    @Option(help: "Also write a submission CSV (id,rle) here.") var rle: String?
    @Option(help: "Also write the mask's objects as GeoJSON polygons (with holes), as QuPath imports them.") var geojson: String?
    @Option(help: "The GeoJSON objects' classification.") var geojsonClass = "FTU"
    @Option(help: "The coordinator's client endpoint, if not the configuration's.") var coordinator: String?
    @Option(help: "Follow an earlier job instead of submitting.") var attach: UInt64?
    @Option(
        help:
            "Seconds of silence from the coordinator before giving up (default: 3 × liveness × interval, at least 10; once the job is accepted, 300, since a restarted coordinator keeps its jobs)."
    ) var timeout: Double?
    @Option(help: "The slide's µm per pixel, overriding what its file says (or does not).") var pixelSize: Double?
    @Option(help: "The slide's organ: its threshold is the configuration's [organ NAME] threshold.") var organ: String?
    @Option(
        help:
            "Who reads the slide on the coordinator: auto (libtiff for the TIFFs it decodes, OpenSlide for the rest, JPEG 2000 Aperio slides among them), tiff or openslide. Default: the configuration's [inference] reader."
    ) var reader: SlideBackend?
    @Flag(help: "Upload the slide even if the coordinator could read it in place.") var upload = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard (slide == nil) != (attach == nil) else { throw ValidationError("give a slide, or --attach JOB, not both") }
        if let pixelSize, !(pixelSize > 0 && pixelSize <= 1000) { throw ValidationError("--pixel-size must be in µm, above 0 and at most 1000") }
    }

    func run() throws {
        StopSignal.install()
        let config = try cluster.load()
        let client = try ClusterClient(config: config, endpoint: coordinator)
        if let timeout {
            client.patience = timeout
            client.restartPatience = timeout
        }
        let bar = ProgressReporter("submit", quiet: quiet)
        let outcome = try client.run(
            slidePath: slide, attach: attach, maskPath: out, wantRLE: rle != nil, forceUpload: upload, pixelSize: pixelSize, organ: organ,
            reader: reader?.rawValue,
            progress: { p in
                guard p.tilesTotal > 0 else { return }
                let members = zip(p.memberNames, p.memberDone).map { "\($0) \($1)" }.joined(separator: ", ")
                bar.update(p.tilesDone, of: p.tilesTotal, unit: "tiles; \(members)\(p.note.map { "; " + $0 } ?? "")")
            },
            accepted: { job in
                if !quiet { ProgressReporter.note("job \(job)") }
            },
            silent: { seconds in
                ProgressReporter.note("no word from the coordinator for \(Int(seconds)) s; asking for the job again (a restarted coordinator keeps its jobs)")
            })
        print("mask: \(out) (\(outcome.finished.width)×\(outcome.finished.height), \(outcome.finished.foregroundPixels) foreground pixels)")
        if let rle, let text = outcome.rle {
            var submission = Submission()
            submission.rows = [(Submission.id(forSlide: slide ?? "job-\(outcome.job)"), text)]
            try submission.write(to: rle)
            print("rle: \(rle)")
        }
        if let geojson {
            let (runs, width, height) = try MaskFiles.runs(ofMaskAt: out)
            let polygons = MaskPolygons.polygons(runs, width: width, height: height)
            try MaskPolygons.writeGeoJSON(polygons, classification: geojsonClass, to: geojson)
            print("geojson: \(geojson) (\(polygons.count) objects)")
        }
    }
}

/// `tessera status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List the coordinator's workers and jobs.")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "The coordinator's client endpoint, if not the configuration's.") var coordinator: String?
    @Option(help: "Seconds to wait for the answer.") var timeout: Double = 10
    @Flag(
        help:
            "Print the coordinator's metrics (the configuration's metrics endpoint) instead: workers lost and why, tiles requeued, each worker's longest silence, …"
    ) var metrics = false

    func run() throws {
        let config = try cluster.load()
        if metrics {
            guard let endpoint = config.metricsEndpoint else {
                throw ValidationError("\(config.source) sets no metrics endpoint ([coordinator] metrics = …)")
            }
            return print(try ClusterSockets.metrics(endpoint: endpoint, timeoutMilliseconds: Int(timeout * 1000)), terminator: "")
        }
        let client = try ClusterClient(config: config, endpoint: coordinator)
        client.patience = timeout
        let status = try client.status()
        print("workers: \(status.workers.count)")
        for w in status.workers {
            print(
                String(
                    format: "  %@  member %@  %@  %.1f tiles/s  %d in flight  %d done  %@", w.name, w.member, w.state, w.tilesPerSecond,
                    w.inFlight, w.tilesDone, w.kernels ?? "kernels unknown"))
        }
        print("jobs: \(status.jobs.count)")
        for j in status.jobs {
            let unit = j.kind == "training" ? " steps (training)" : ""
            print("  \(j.job)  \(j.name)  \(j.state)  \(j.tilesDone)/\(j.tilesTotal)\(unit)\(j.note.map { "  (\($0))" } ?? "")")
        }
    }
}

/// `tessera keys`.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Print a [security] section with new CURVE key pairs for cluster.conf.",
        discussion:
            "Every machine needs the three public keys; the coordinator alone needs coordinator_secret, workers worker_secret, clients client_secret. Keep secrets out of shared copies."
    )

    func run() throws {
        let coordinator = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        print(
            """
            [security]
            coordinator_public = \(coordinator.publicKey)
            coordinator_secret = \(coordinator.secretKey)
            worker_public = \(worker.publicKey)
            worker_secret = \(worker.secretKey)
            client_public = \(client.publicKey)
            client_secret = \(client.secretKey)
            """)
    }
}
