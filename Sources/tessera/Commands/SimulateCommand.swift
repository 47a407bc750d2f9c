import ArgumentParser
import Foundation
import Simulation

/// `tessera simulate`: the deterministic simulation of a training run on a cluster.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Explore the cluster's training decisions under faults and timings, seed after seed.",
        discussion: """
            Each seed drives the coordinator's and the workers' decision logic — the code the \
            processes run — over a simulated network, clock and disk: delays and stalls, kill -9 \
            of workers and of the coordinator, restarts from the state folder, healthy workers \
            taken for dead, slow members, workers joining. Steps are hashes, so a seed takes \
            milliseconds. After every event the invariants are checked (docs/SIMULATION.md); the \
            first seed that breaks one stops the run and prints its trace. The same seed gives \
            the same run on every machine.
            """
    )
    @Option(help: "Seconds to run seeds for.") var seconds = 20.0
    @Option(help: "The first seed.") var seed: UInt64 = 1
    @Option(help: "Run only this many seeds at most.") var seeds: Int?
    @Option(help: "Workers at the start.") var workers = 3
    @Option(help: "Steps of the simulated run.") var steps = 10
    @Option(
        help: "Reintroduce a known fault to show that the simulator finds it: \(TrainingSimulation.Mutation.allCases.map(\.rawValue).joined(separator: ", ")).")
    var mutation: String?
    @Flag(help: "Print the trace of the first seed (or of the failing one) in full.") var trace = false

    func run() throws {
        var options = TrainingSimulation.Options()
        options.workers = workers
        options.steps = steps
        if let mutation {
            guard let chosen = TrainingSimulation.Mutation(rawValue: mutation) else {
                throw ValidationError("unknown mutation \(mutation) (\(TrainingSimulation.Mutation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            options.mutation = chosen
        }
        guard seconds > 0, workers >= 1, steps >= 1 else { throw ValidationError("--seconds, --workers and --steps must be positive") }
        if trace && seeds == 1 {
            let outcome = TrainingSimulation.run(seed: seed, options: options)
            outcome.trace.forEach { print($0) }
            print("seed \(seed): \(outcome.violation ?? "every invariant held"); \(outcome.ending)")
            if outcome.violation != nil { throw ExitCode(1) }
            return
        }
        let summary = SimulationRunner.run(first: seed, seconds: seconds, maxSeeds: seeds ?? .max, options: options) { done in
            FileHandle.standardError.write(Data("\(done) seeds\n".utf8))
        }
        let endings = summary.endings.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: "; ")
        print(String(format: "%d seeds in %.1f s (%.0f seeds/s): %@", summary.seeds, summary.seconds, summary.seedsPerSecond, endings))
        if let failure = summary.failure {
            if trace { failure.trace.forEach { print($0) } }
            print(
                "seed \(failure.seed) breaks an invariant after \(failure.events) events (\(String(format: "%.1f", failure.simulatedSeconds)) simulated s): \(failure.violation!)"
            )
            print("its trace: tessera simulate --seed \(failure.seed) --seeds 1 --trace" + (mutation.map { " --mutation \($0)" } ?? ""))
            throw ExitCode(1)
        }
        print("every invariant held")
    }
}
