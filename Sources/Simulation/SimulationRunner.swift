import Foundation

/// Runs seeds one after another for a while — each a training run and a slide job — as
/// `tessera simulate` and the tests do, stopping at the first seed that breaks an invariant.
public enum SimulationRunner {
    public struct Summary: Sendable {
        public let seeds: Int
        public let seconds: Double
        /// The first failing seed, if any.
        public let failure: SimulationOutcome?
        /// How the runs ended: "finished", or each failure reason, with counts.
        public let endings: [String: Int]
        public var seedsPerSecond: Double { Double(seeds) / max(seconds, 1e-9) }
    }

    /// Seeds `first`, `first` + 1, … until `seconds` have passed or `maxSeeds` ran.
    public static func run(
        first: UInt64, seconds: Double, maxSeeds: Int = .max, options: TrainingSimulation.Options = .init(),
        progress: ((Int) -> Void)? = nil
    ) -> Summary {
        let start = Date()
        var seeds = 0
        var endings: [String: Int] = [:]
        while seeds < maxSeeds && Date().timeIntervalSince(start) < seconds {
            let seed = first &+ UInt64(seeds)
            var outcome = TrainingSimulation.run(seed: seed, options: options)
            if outcome.violation == nil, options.mutation == nil {
                // The same seed drives a slide job too.
                let slide = SlideSimulation.run(seed: seed)
                if slide.violation != nil { outcome = slide }
                endings["slide job " + slide.ending, default: 0] += 1
            }
            seeds += 1
            let ending = outcome.ending.hasPrefix("failed") ? outcome.ending.prefix(80).description : outcome.ending
            endings[ending, default: 0] += 1
            if outcome.violation != nil {
                return Summary(seeds: seeds, seconds: Date().timeIntervalSince(start), failure: outcome, endings: endings)
            }
            if seeds % 500 == 0 { progress?(seeds) }
        }
        return Summary(seeds: seeds, seconds: Date().timeIntervalSince(start), failure: nil, endings: endings)
    }
}
