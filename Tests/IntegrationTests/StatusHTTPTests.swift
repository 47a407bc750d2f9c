import Core
import Foundation
import TestSupport
import Testing

/// The coordinator's HTTP endpoint (`[http]`) in real processes: /metrics in Prometheus's
/// text format, the status page and its JSON, and the token.
@Suite(.serialized) struct StatusHTTPTests {
    static let token = "0123456789abcdef0123"

    /// The address the coordinator printed ("status page and /metrics at http://…/").
    static func address(_ coordinator: ManagedProcess) throws -> String {
        #expect(coordinator.waitForError("/metrics at http://"))
        let line = try #require(coordinator.stderr.split(separator: "\n").first { $0.contains("/metrics at http://") })
        return try #require(line.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init))
    }

    @Test func metricsAndTheStatusPageNeedTheTokenAndDescribeTheCluster() throws {
        let cluster = try ClusterHarness(
            members: """
                [member half]
                architecture = constant
                value = 0.6
                delay = 0.2
                """, http: "listen = 127.0.0.1:0\ntoken = \(Self.token)")
        let address = try Self.address(try cluster.startCoordinator())
        try cluster.startWorker("half")
        let slide = try cluster.synth(width: 512, height: 512, seed: 4)
        let submit = try cluster.startSubmit([slide, "--out", cluster.folder + "/m.tiff", "--quiet"])

        // Without the token, or with another: 401, nothing of the cluster.
        let bearer = ["Authorization": "Bearer \(Self.token)"]
        for headers in [[:], ["Authorization": "Bearer 0123456789abcdef0124"]] {
            let refused = try HTTPGet.get(address + "metrics", headers: headers)
            #expect(refused.status == 401 && !refused.text.contains("tessera_"), "\(refused.status) \(refused.text)")
        }
        #expect(try HTTPGet.get(address + "status.json?token=nope").status == 401)
        #expect(try HTTPGet.get(address + "nothing", headers: bearer).status == 404)

        // While the job runs: the worker and the job appear in the status JSON.
        var running = false, total = 0
        for _ in 0..<200 where !running {
            let status = try HTTPGet.get(address + "status.json", headers: bearer)
            #expect(status.status == 200 && status.contentType == "application/json")
            let json = try JSONSerialization.jsonObject(with: status.body) as? [String: Any]
            let workers = json?["workers"] as? [[String: Any]] ?? [], jobs = json?["jobs"] as? [[String: Any]] ?? []
            running = workers.contains { $0["member"] as? String == "half" } && jobs.contains { $0["state"] as? String == "running" }
            total = jobs.first?["tilesTotal"] as? Int ?? 0
            if !running { usleep(100_000) }
        }
        #expect(running, "the status JSON never showed the worker and a running job")

        #expect(submit.wait(timeout: 120) == 0, "\(submit.stderr)")
        // Gauges are published once a second: wait (a busy machine may take longer) for the
        // finished job to show.
        var metrics = try HTTPGet.get(address + "metrics", headers: bearer)
        for _ in 0..<300 where !metrics.text.contains("tessera_jobs{state=\"finished\"} 1") {
            usleep(100_000)
            metrics = try HTTPGet.get(address + "metrics", headers: bearer)
        }
        #expect(metrics.status == 200 && metrics.contentType.hasPrefix("text/plain; version=0.0.4"), "\(metrics.contentType)")
        let text = try PrometheusText(metrics.text)
        #expect(text.value("tessera_workers", ["member": "half"]) == 1)
        #expect(text.value("tessera_jobs", ["state": "finished"]) == 1)
        let tiles = try #require(text.value("tessera_tiles_done_total"))
        #expect(total > 1 && tiles == Double(total), "\(tiles) tiles done of \(total)")
        #expect((text.value("tessera_tile_seconds_count", ["member": "half"]) ?? 0) >= 1)
        #expect((text.value("tessera_tile_seconds_sum", ["member": "half"]) ?? 0) >= 0.2 * (text.value("tessera_tile_seconds_count", ["member": "half"]) ?? 0))
        // The metrics socket answers the same families.
        let socket = try PrometheusText(try cluster.metrics())
        #expect(Set(socket.types.keys) == Set(text.types.keys))

        // The page itself, with the token in its address (as a browser opens it).
        let page = try HTTPGet.get(address + "?token=\(Self.token)")
        #expect(page.status == 200 && page.contentType.hasPrefix("text/html") && page.text.contains("status.json") && page.text.contains("<canvas"))
    }

    /// Without [http] nothing listens; a port in use is a clear error at start.
    @Test func aPortInUseIsAClearError() throws {
        let first = try ClusterHarness(members: "[member half]\narchitecture = constant", http: "listen = 127.0.0.1:0")
        let address = try Self.address(try first.startCoordinator())
        let port = try #require(address.split(separator: ":").last?.split(separator: "/").first.map(String.init))
        let second = try ClusterHarness(members: "[member half]\narchitecture = constant", http: "listen = 127.0.0.1:\(port)")
        let result = try TesseraBinary.run(["coordinator", "--config", second.configPath], timeout: 30)
        #expect(result.status != 0 && result.stderr.contains("cannot listen"), "\(result.stderr)")
    }
}

/// `--log-format json`: every line a JSON object with the time, level, component, message
/// and the event's metadata, as log collectors take them.
@Suite struct JSONLogTests {
    @Test func aCoordinatorAndAWorkerLogJSONLines() throws {
        let cluster = try ClusterHarness(members: "[member half]\narchitecture = constant")
        let coordinator = try cluster.startProcess(["coordinator", "--config", cluster.configPath, "--log-format", "json"])
        #expect(coordinator.waitForError("ready"))
        let worker = try cluster.startProcess(["worker", "--config", cluster.configPath, "--member", "half", "--log-format", "json"])
        #expect(worker.waitForError("registered"))
        let slide = try cluster.synth(width: 200, height: 200, seed: 2)
        #expect(try cluster.submit([slide, "--out", cluster.folder + "/m.tiff"]).status == 0)
        #expect(coordinator.waitForError("finished"))
        for (process, component) in [(coordinator, "coordinator"), (worker, "worker")] {
            let lines = process.stderr.split(separator: "\n")
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
                #expect(object?["component"]?.hasPrefix(component) == true && object?["time"] != nil && object?["message"] != nil, "\(line)")
            }
        }
        let finished = try #require(coordinator.stderr.split(separator: "\n").first { $0.contains("finished:") })
        let object = try JSONSerialization.jsonObject(with: Data(finished.utf8)) as? [String: String]
        #expect(object?["job"] == "1" && object?["level"] == "info", "\(finished)")
        let workerLine = try JSONSerialization.jsonObject(with: Data(worker.stderr.split(separator: "\n")[0].utf8)) as? [String: String]
        #expect(workerLine?["member"] == "half", "\(worker.stderr)")
    }
}
