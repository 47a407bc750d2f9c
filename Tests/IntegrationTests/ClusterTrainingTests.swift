import Foundation
import TestSupport
import Testing

/// Data-parallel training on a real cluster on loopback: coordinator, workers and
/// `tessera train --config` as processes, stopped by PID. Whatever happens to the ring —
/// a worker killed with `kill -9` mid-step, one joining mid-run, the coordinator restarted —
/// the run's final training state equals, bit for bit, a replay on one machine in which
/// each step ran on a ring of the size the run's record says it had from that step on
/// (`tessera train --replay`).
@Suite(.serialized) struct ClusterTrainingTests {
    /// A cluster of member b0 (deterministic weights to serve tiles with) and 3 small slides.
    static func cluster() throws -> (ClusterHarness, data: String) {
        let harness = try ClusterHarness(members: "")
        let weights = harness.folder + "/b0.safetensors"
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b0", "--out", weights]).status == 0)
        try harness.writeConfig(harness.configPath, members: "[member b0]\narchitecture = effunet-b0\nweights = \(weights)")
        let data = harness.folder + "/data"
        for seed in 1...3 {
            let result = try TesseraBinary.run(["synth", "--width", "512", "--height", "512", "--seed", "\(seed)", "--out", data, "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        return (harness, data)
    }

    /// Under `[security]` the ring links are CURVE too (the workers' key pair) and the run
    /// is the same.
    @Test func aSecuredClusterTrainsTheSame() throws {
        let (harness, data) = try Self.cluster()
        let keys = try TesseraBinary.run(["keys"]).stdout
        try harness.writeConfig(
            harness.configPath, members: "[member b0]\narchitecture = effunet-b0\nweights = \(harness.folder)/b0.safetensors",
            security: keys)
        try harness.startCoordinator()
        try harness.startWorker("b0")
        try harness.startWorker("b0")
        let train = try Self.train(harness, data: data, steps: 4)
        let record = try Self.finish(train, harness, data: data)
        #expect(record.rings.first?.workers.count == 2, "\(record.rings.map(\.workers))")
    }

    /// With no worker of the member, the run fails at the deadline and says why.
    @Test func aRunNoWorkerJoinsFailsAtTheDeadline() throws {
        let (harness, data) = try Self.cluster()
        try harness.writeConfig(
            harness.configPath, members: "[member b0]\narchitecture = effunet-b0\nweights = \(harness.folder)/b0.safetensors",
            extra: "member_deadline = 1")
        try harness.startCoordinator()
        let train = try Self.train(harness, data: data, steps: 2)
        #expect(train.wait(timeout: 60) != 0)
        #expect(train.stderr.contains("no worker of member b0 joined within 1 s (member_deadline)"), "\(train.stderr)")
    }

    static func train(_ harness: ClusterHarness, data: String, steps: Int) throws -> ManagedProcess {
        try harness.startProcess([
            "train", "--config", harness.configPath, "--member", "b0", "--data", data, "--out", harness.folder + "/model.safetensors",
            "--tile", "64", "--batch", "6", "--steps", "\(steps)", "--checkpoint-every", "4", "--validate-every", "0",
            "--precise-bn", "1", "--quiet",
        ])
    }

    /// The run's record as the coordinator keeps it.
    struct Record: Decodable {
        struct Ring: Decodable { let step: Int; let epoch: Int; let workers: [String] }
        let state: String
        let step: Int
        let rings: [Ring]
    }

    static func record(_ harness: ClusterHarness, run: Int = 1) throws -> Record {
        try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: harness.folder + "/state/train-\(run)/job.json")))
    }

    static func finish(_ train: ManagedProcess, _ harness: ClusterHarness, data: String) throws -> Record {
        let status = train.wait(timeout: 240)
        #expect(status == 0, "train: \(train.stderr)")
        let record = try record(harness)
        #expect(record.state == "finished")
        // The settings are an object, as in a run folder's run.json.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: harness.folder + "/state/train-1/job.json"))) as? [String: Any]
        #expect(json?["settings"] is [String: Any])
        // `tessera train --replay` runs the same steps on one machine, each on a ring of the
        // size the record gives (a separate process: OpenBLAS's kernel is pinned at start).
        let replay = try TesseraBinary.run(["train", "--replay", harness.folder + "/state/train-1", "--data", data, "--quiet"], timeout: 240)
        #expect(
            replay.status == 0 && replay.stdout.contains("identical"),
            "\(replay.stdout)\(replay.stderr) rings: \(record.rings.map { ($0.step, $0.workers.count) })")
        // The model the client fetched loads as the member's weights.
        #expect(try TesseraBinary.run(["weights", "check", "--model", "effunet-b0", harness.folder + "/model.safetensors"]).status == 0)
        return record
    }

    @Test func twoWorkersTrainWithoutTakingTilesAndEqualTheReplay() throws {
        let (harness, data) = try Self.cluster()
        let coordinator = try harness.startCoordinator()
        try harness.startWorker("b0")
        try harness.startWorker("b0")
        let train = try Self.train(harness, data: data, steps: 8)
        #expect(try harness.waitForTrainingStep(1))
        let status = try TesseraBinary.run(["status", "--config", harness.configPath])
        #expect(status.stdout.components(separatedBy: "training (run 1)").count - 1 == 2, "\(status.stdout)")
        #expect(status.stdout.contains("steps (training)"), "\(status.stdout)")
        let record = try Self.finish(train, harness, data: data)
        // On a busy machine a worker may be taken for dead and join again: the ring may
        // change, and the result must still be the replay's (checked in `finish`).
        #expect(record.rings.first?.workers.count == 2, "\(record.rings.map(\.workers))")
        // One step convention: the log names the ring's step as job.json does (steps done).
        let first = try #require(record.rings.first)
        #expect(coordinator.stderr.contains("ring of 2 at step \(first.step) (epoch \(first.epoch))"), "\(coordinator.stderr)")
        // Back to tiles once the run is over.
        let after = try TesseraBinary.run(["status", "--config", harness.configPath])
        #expect(!after.stdout.contains("training (run"), "\(after.stdout)")
    }

    @Test func aKilledWorkerAndAJoiningOneChangeOnlyTheRing() throws {
        let (harness, data) = try Self.cluster()
        try harness.startCoordinator()
        let doomed = try harness.startWorker("b0")
        try harness.startWorker("b0")
        try harness.startWorker("b0")
        let train = try Self.train(harness, data: data, steps: 12)
        #expect(try harness.waitForTrainingStep(2))
        kill(doomed.pid, SIGKILL)
        #expect(try harness.waitForTrainingStep(6))
        let joiner = try harness.startWorker("b0")
        let record = try Self.finish(train, harness, data: data)
        // The killed worker was in the first ring and not in the last; the joiner entered one.
        // (Under load a busy worker may also miss heartbeats, leave and come back: the rings
        // change more often, and the result must still be the replay's.)
        let rings = record.rings.map { $0.workers.map { $0.split(separator: ":").last.map(String.init) ?? "" } }
        #expect(rings.first?.count == 3 && rings.first!.contains("\(doomed.pid)"), "\(rings)")
        #expect(rings.count >= 3 && !rings.last!.contains("\(doomed.pid)"), "\(rings)")
        #expect(rings.contains { $0.contains("\(joiner.pid)") }, "\(rings)")
    }

    @Test func aRestartedCoordinatorGoesOnFromTheLastCheckpoint() throws {
        let (harness, data) = try Self.cluster()
        let coordinator = try harness.startCoordinator()
        try harness.startWorker("b0")
        try harness.startWorker("b0")
        let train = try Self.train(harness, data: data, steps: 10)
        #expect(try harness.waitForTrainingStep(6))
        kill(coordinator.pid, SIGKILL)
        #expect(coordinator.wait(timeout: 10) != nil)
        try harness.startCoordinator()
        let record = try Self.finish(train, harness, data: data)
        // The new coordinator's ring started again from a checkpoint (every 4 steps).
        let last = record.rings.last!
        #expect(record.rings.count >= 2 && last.step >= 4 && last.step % 4 == 0, "\(record.rings.map { ($0.step, $0.epoch) })")
    }
}
