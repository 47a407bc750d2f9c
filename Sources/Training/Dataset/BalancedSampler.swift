import Core

/// The seed's balanced tile sampling: tiles binned by the fraction of their pixels the
/// mask covers, and each batch drawn equally from the bins that hold tiles. Which tile
/// fills slot k of step s is a function of (seed, s, k) alone, so any worker can compute
/// its share of any batch, and a resumed run draws what the uninterrupted one would.
public struct BalancedSampler: Sendable {
    /// Tile indices in each non-empty bin.
    public let bins: [[Int]]
    public let seed: UInt64

    /// `fractions[i]` is tile i's masked fraction; a tile goes to the last bin whose lower
    /// edge it reaches (edges ascending from 0; default: empty, under 10 %, under 40 %, more).
    public init(fractions: [Double], edges: [Double] = [0, 1e-9, 0.1, 0.4], seed: UInt64) throws {
        guard !fractions.isEmpty else { throw TesseraError("sampler", "no tiles to sample") }
        guard edges.first == 0, zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw TesseraError("sampler", "bin edges must rise from 0, not \(edges)")
        }
        var bins = [[Int]](repeating: [], count: edges.count)
        for (tile, fraction) in fractions.enumerated() {
            bins[edges.lastIndex { fraction >= $0 } ?? 0].append(tile)
        }
        self.bins = bins.filter { !$0.isEmpty }
        self.seed = seed
    }

    /// The tile of slot `slot` of step `step`: slots take the bins in turn, starting from a
    /// bin that moves with the step, and a tile of the bin drawn from (seed, step, slot).
    public func tile(step: Int, slot: Int) -> Int {
        let bin = bins[(step &+ slot) % bins.count]
        var random = SplitMix64(
            seed: seed ^ (UInt64(truncatingIfNeeded: step) &* 0x9E37_79B9_7F4A_7C15)
                ^ (UInt64(truncatingIfNeeded: slot) &* 0xC2B2_AE3D_27D4_EB4F))
        return bin[Int(random.next() % UInt64(bin.count))]
    }

    /// The whole batch of `step`.
    public func batch(step: Int, size: Int) -> [Int] { (0..<size).map { tile(step: step, slot: $0) } }
}
