import Foundation

/// Fuzzing without compiler support: seeds, then seeded mutations of them, each input run
/// in this process. What it lacks beside libFuzzer (`make fuzz`) is coverage feedback; what
/// it offers is a bounded, reproducible run for the test suite and `tessera fuzz`.
public enum SeededFuzzer {
    public struct Report: Sendable {
        public let target: FuzzTarget
        public let executions: Int
        public let seconds: Double
    }

    /// Runs `target` on its seeds, then on mutations until `runs` inputs or `seconds` have
    /// gone. Before each input runs, its bytes are written to `lastInput` when given, so a
    /// crash leaves the input that caused it there.
    public static func run(_ target: FuzzTarget, runs: Int, seconds: Double, seed: UInt64 = 1, lastInput: String? = nil) throws -> Report {
        try target.prepare()
        let seeds = try target.seeds()
        let start = Date()
        var mutator = Mutator(seed: seed)
        var executions = 0
        while executions < runs && Date().timeIntervalSince(start) < seconds {
            let input =
                executions < seeds.count
                ? seeds[executions]
                : mutator.mutate(seeds[mutator.below(seeds.count)], other: seeds[mutator.below(seeds.count)])
            if let lastInput { _ = FileManager.default.createFile(atPath: lastInput, contents: Data(input)) }
            target.run(input)
            executions += 1
        }
        if let lastInput { unlink(lastInput) }
        return Report(target: target, executions: executions, seconds: Date().timeIntervalSince(start))
    }
}
