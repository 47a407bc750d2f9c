import Core
import Foundation
import Segmentation
import Shared
import TestSupport

/// A throw-away cluster on this machine: a config with ipc:// endpoints in a fresh folder
/// (so no port can clash), real coordinator and worker processes, and cleanup by PID —
/// beside busy threads, one per core (`CPUHogs`), for as long as the cluster lives: what a
/// test asserts must hold on a loaded machine, not only on a quiet one.
final class ClusterHarness {
    private let temporary: TemporaryDirectory
    private let hogs = CPUHogs()
    var folder: String { temporary.path }
    let configPath: String
    private(set) var processes: [ManagedProcess] = []

    /// - Parameters:
    ///   - members: the `[member NAME]` sections.
    ///   - extra: more lines for `[coordinator]`.
    ///   - security: a `[security]` section, or nil.
    ///   - http: the `[http]` section's lines, or nil for none.
    init(
        members: String, tile: Int = 128, margin: Int = 16, window: String = "constant", extra: String = "", security: String? = nil,
        http: String? = nil
    ) throws {
        temporary = try TemporaryDirectory()
        configPath = temporary.path + "/cluster.conf"
        try writeConfig(
            configPath, members: members, tile: tile, margin: margin, window: window, extra: extra, security: security,
            inference: "", http: http)
    }

    deinit {
        for process in processes { process.stop(grace: 2) }
        hogs.stop()
    }

    /// Writes a configuration of this cluster (variants for other keys use another path).
    func writeConfig(
        _ path: String, members: String, tile: Int = 128, margin: Int = 16, window: String = "constant", extra: String = "", security: String? = nil,
        inference: String = "", http: String? = nil
    ) throws {
        let text = """
            [coordinator]
            workers = ipc://\(folder)/w.sock
            clients = ipc://\(folder)/c.sock
            metrics = ipc://\(folder)/m.sock
            state = \(folder)/state
            \(extra)

            [inference]
            tile = \(tile)
            margin = \(margin)
            window = \(window)
            threshold = 0.5
            \(inference)

            [heartbeat]
            interval = 0.2
            liveness = 3
            training_liveness = 15

            \(security ?? "")

            \(http.map { "[http]\n" + $0 } ?? "")

            \(members)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Starts the coordinator and waits until it is bound.
    @discardableResult
    func startCoordinator(config: String? = nil) throws -> ManagedProcess {
        let process = try ManagedProcess(["coordinator", "--config", config ?? configPath])
        processes.append(process)
        guard process.waitForError("ready") else { throw TesseraError("coordinator", "did not start: \(process.stderr)") }
        return process
    }

    /// Starts a worker for `member`; waits until it has registered unless told not to.
    @discardableResult
    func startWorker(_ member: String, config: String? = nil, waitForRegistration: Bool = true) throws -> ManagedProcess {
        let process = try ManagedProcess(["worker", "--config", config ?? configPath, "--member", member])
        processes.append(process)
        if waitForRegistration, !process.waitForError("registered") {
            throw TesseraError("worker \(member)", "did not register: \(process.stderr)")
        }
        return process
    }

    /// The coordinator's answer on its metrics socket.
    func metrics() throws -> String {
        try ClusterSockets.metrics(endpoint: "ipc://\(folder)/m.sock", timeoutMilliseconds: 10_000)
    }

    /// A synthetic slide in the folder.
    func synth(width: Int, height: Int, seed: Int, glass: Double = 0, extra: [String] = []) throws -> String {
        let result = try TesseraBinary.run(
            [
                "synth", "--width", "\(width)", "--height", "\(height)", "--seed", "\(seed)", "--glass", "\(glass)",
                "--out", folder, "--quiet",
            ] + extra)
        guard result.status == 0 else { throw TesseraError("synth", result.stderr) }
        return folder + "/synth_\(seed).tiff"
    }

    /// `tessera infer --config` on one machine: the mask the cluster must reproduce.
    func reference(_ slide: String, extra: [String] = []) throws -> String {
        let out = folder + "/reference-\(UUID().uuidString.prefix(6)).tiff"
        let result = try TesseraBinary.run(["infer", "--config", configPath, slide, "--out", out, "--quiet"] + extra)
        guard result.status == 0 else { throw TesseraError("infer", result.stderr) }
        return out
    }

    /// Runs `tessera submit` to the end.
    func submit(_ arguments: [String], config: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try TesseraBinary.run(["submit", "--config", config ?? configPath, "--quiet"] + arguments, timeout: 180)
    }

    /// Starts `tessera submit` in the background.
    func startSubmit(_ arguments: [String]) throws -> ManagedProcess {
        let process = try ManagedProcess(["submit", "--config", configPath] + arguments)
        processes.append(process)
        return process
    }

    /// Starts any `tessera` command in the background, stopped with the cluster.
    func startProcess(_ arguments: [String]) throws -> ManagedProcess {
        let process = try ManagedProcess(arguments)
        processes.append(process)
        return process
    }

    /// Polls `tessera status` (for up to 120 s) until a training run has committed `steps`
    /// steps; false if it never got there.
    func waitForTrainingStep(_ steps: Int) throws -> Bool {
        for _ in 0..<1200 {
            let status = try TesseraBinary.run(["status", "--config", configPath, "--timeout", "2"])
            if let line = status.stdout.split(separator: "\n").first(where: { $0.contains("steps (training)") }),
                let done = line.split(separator: " ").first(where: { $0.contains("/") }).flatMap({ Int($0.split(separator: "/")[0]) }), done >= steps
            {
                return true
            }
            usleep(100_000)
        }
        return false
    }

    /// Polls `tessera status` (for up to 10 s) until the running job has `tiles` tiles done;
    /// false if it never got there.
    func waitForRunningJob(tilesDone tiles: Int) throws -> Bool {
        for _ in 0..<200 {
            let status = try TesseraBinary.run(["status", "--config", configPath])
            if let line = status.stdout.split(separator: "\n").first(where: { $0.contains("running") }),
                let done = line.split(separator: " ").first(where: { $0.contains("/") }).flatMap({ Int($0.split(separator: "/")[0]) }), done >= tiles
            {
                return true
            }
            usleep(50_000)
        }
        return false
    }

    /// The pixels of a mask TIFF.
    static func pixels(_ path: String) throws -> [UInt8] {
        let reader = try SlideReader(path: path)
        return try reader.readFirstChannel(x: 0, y: 0, width: reader.width, height: reader.height).pixels
    }
}
