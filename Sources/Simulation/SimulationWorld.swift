import Core

/// What every simulation stands on: one seed, a simulated clock and an event queue. Events
/// at the same time run in the order they were scheduled, so a seed replays exactly.
struct SimulationWorld {
    private(set) var now = 0.0
    private var rng: SplitMix64
    private var events: [(time: Double, order: Int, event: Int)] = []
    private var order = 0
    /// A line per event worth reading, for a failing seed's trace.
    private(set) var trace: [String] = []

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// A uniform draw in `range`.
    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + Double(rng.next() >> 11) / Double(1 << 53) * (range.upperBound - range.lowerBound)
    }

    mutating func chance(_ probability: Double) -> Bool { uniform(0...1) < probability }

    mutating func pick(_ count: Int) -> Int { Int(rng.next() % UInt64(max(1, count))) }

    /// A message's delay on a loopback link of a busy machine: mostly milliseconds, at times
    /// a long stall (a process descheduled, a big message copied).
    mutating func delay() -> Double { chance(0.05) ? uniform(0.2...2) : uniform(0.0005...0.03) }

    /// Schedules event `event` (an index the caller keeps) at `time`.
    mutating func schedule(_ event: Int, at time: Double) {
        order += 1
        let entry = (max(time, now), order, event)
        let index = events.firstIndex { $0.time > entry.0 || ($0.time == entry.0 && $0.order > entry.1) } ?? events.count
        events.insert(entry, at: index)
    }

    /// The next event, the clock moved to its time.
    mutating func next() -> Int? {
        guard !events.isEmpty else { return nil }
        let entry = events.removeFirst()
        now = entry.time
        return entry.event
    }

    mutating func note(_ line: String) {
        trace.append(String(format: "%9.3f ", now) + line)
    }

    /// FNV-1a over words: the simulation's stand-in for every numeric result.
    static func hash(_ words: UInt64...) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for word in words {
            for shift in stride(from: 0, to: 64, by: 8) { hash = (hash ^ ((word >> UInt64(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3 }
        }
        return hash
    }
}

/// What one seed of a simulation found.
public struct SimulationOutcome: Sendable {
    public let seed: UInt64
    /// Nil when every invariant held; the first violation otherwise.
    public let violation: String?
    /// How the run ended ("finished", or "failed: why").
    public let ending: String
    public let events: Int
    public let simulatedSeconds: Double
    /// The events of the seed, one a line.
    public let trace: [String]
}
