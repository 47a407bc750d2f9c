import Foundation
import TestSupport
import Testing

/// The deployment recipes of docs/DEPLOY.md, as far as this machine can run them.
@Suite(.serialized) struct DeploymentTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// deploy/slurm/tessera.sbatch on a 2-node "allocation" whose srun and scontrol are stubs
    /// that run every step here: the coordinator, a worker per node, `submit` of the slide.
    /// The mask is `infer --config`'s, and the script leaves nothing running.
    @Test func theSlurmBatchScriptSegmentsOnItsAllocation() throws {
        let folder = try TemporaryDirectory()
        let workers = Int.random(in: 20_000..<40_000), clients = workers + 1
        let config = folder.file("cluster.conf")
        try """
        [coordinator]
        workers = tcp://*:\(workers)
        clients = tcp://*:\(clients)
        state = \(folder.file("state"))

        [inference]
        tile = 128
        margin = 16

        [member stain]
        architecture = stain
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let synth = try TesseraBinary.run(["synth", "--width", "600", "--height", "500", "--seed", "4", "--out", folder.path, "--quiet"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let slide = folder.file("synth_4.tiff")
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = Self.repository + "/deploy/slurm/stub:" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["TESSERA"] = TesseraBinary.path
        environment["SLURM_JOB_NUM_NODES"] = "2"
        environment["SLURM_JOB_NODELIST"] = "node1,node2"
        environment["TESSERA_RING_HOST"] = "127.0.0.1"
        let script = try ManagedProcess(
            [Self.repository + "/deploy/slurm/tessera.sbatch", config, folder.file("out"), slide],
            environment: environment, executable: "/bin/bash")
        let status = script.wait(timeout: 180)
        #expect(status == 0, "\(script.stdout)\(script.stderr)")
        #expect(script.stdout.contains("workers: 2"), "\(script.stdout)")
        let reference = folder.file("reference.tiff")
        #expect(try TesseraBinary.run(["infer", "--config", config, slide, "--out", reference, "--quiet"]).status == 0)
        #expect(try ClusterHarness.pixels(folder.file("out/synth_4.tiff")) == ClusterHarness.pixels(reference))
        #expect(FileManager.default.fileExists(atPath: folder.file("out/synth_4.csv")))
        // Every step was stopped with the script.
        usleep(500_000)
        let left = Process()
        left.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        left.arguments = ["-f", config]
        try left.run()
        left.waitUntilExit()
        #expect(left.terminationStatus == 1, "processes of this cluster are still running")
    }

    /// The systemd units verify (`systemd-analyze verify`), with ExecStart pointing at this build.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is not installed"))
    func theSystemdUnitsVerify() throws {
        let folder = try TemporaryDirectory()
        var units: [String] = []
        for name in ["tessera-coordinator.service", "tessera-worker@.service"] {
            let text = try String(contentsOfFile: Self.repository + "/deploy/systemd/" + name, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/tessera", with: TesseraBinary.path)
            try text.write(toFile: folder.file(name), atomically: true, encoding: .utf8)
            units.append(folder.file(name))
        }
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        verify.arguments = ["verify", "--man=no"] + units
        let errors = Pipe()
        verify.standardError = errors
        try verify.run()
        verify.waitUntilExit()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(verify.terminationStatus == 0 && output.isEmpty, "\(output)")
    }
}
