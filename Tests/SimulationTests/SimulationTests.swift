import Foundation
import Simulation
import Testing

/// The deterministic simulation of training on a cluster (docs/SIMULATION.md): a bounded
/// run of seeds, the seeds that once failed, determinism, and the mutations it must find.
@Suite struct SimulationTests {
    /// About 15 s of seeds from a seed that changes each day, so that CI explores new timings
    /// while any failure names a seed that replays it exactly.
    @Test func seedsKeepEveryInvariant() {
        let first = UInt64(Date().timeIntervalSince1970 / 86_400) * 1_000_000
        let summary = SimulationRunner.run(first: first, seconds: 15)
        #expect(summary.seeds > 100, "only \(summary.seeds) seeds ran")
        if let failure = summary.failure {
            let trace = failure.trace.suffix(60).joined(separator: "\n")
            Issue.record("seed \(failure.seed): \(failure.violation!)\n\(trace)")
        }
    }

    @Test func seedsThatOnceFailedNowHold() throws {
        let url = try #require(Bundle.module.url(forResource: "Regressions/seeds", withExtension: "txt"))
        let seeds = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.compactMap { UInt64($0.split(separator: " ").first ?? "") }
        #expect(seeds.count >= 2)
        for seed in seeds {
            let outcome = TrainingSimulation.run(seed: seed)
            #expect(outcome.violation == nil, "seed \(seed): \(outcome.violation ?? "")")
            #expect(outcome.ending == "finished", "seed \(seed): \(outcome.ending)")
        }
    }

    @Test func slideJobsCountEveryTileOnce() {
        for seed: UInt64 in 1...300 {
            let outcome = SlideSimulation.run(seed: seed)
            #expect(outcome.violation == nil && outcome.ending == "finished", "seed \(seed): \(outcome.violation ?? outcome.ending)")
        }
    }

    @Test func aSeedReplaysExactly() {
        let a = TrainingSimulation.run(seed: 42), b = TrainingSimulation.run(seed: 42)
        #expect(a.trace == b.trace && a.events == b.events)
        #expect(a.trace != TrainingSimulation.run(seed: 43).trace)
    }

    /// Reintroducing a fault the simulator exists to find: it must find it, and soon.
    @Test(arguments: TrainingSimulation.Mutation.allCases)
    func aReintroducedFaultIsFound(_ mutation: TrainingSimulation.Mutation) {
        var options = TrainingSimulation.Options()
        options.mutation = mutation
        let summary = SimulationRunner.run(first: 1, seconds: 20, maxSeeds: 2_000, options: options)
        #expect(summary.failure != nil, "\(mutation) survived \(summary.seeds) seeds")
    }
}
