import Foundation

/// Sums batch-norm statistics over the replicas of a data-parallel step, for synchronised
/// batch norm (PyTorch's `SyncBatchNorm`): every replica normalises with the statistics of
/// the whole global batch, and the backward pass sums its two per-channel reductions the
/// same way, so the step's gradient is the single-process one over the global batch. The
/// engine knows no network: the sum is the caller's closure (a ring all-reduce).
///
/// The tape cannot stop half-way, so a failed sum is kept and the values left as they are;
/// `ModelTrainer.gradients` throws it once the backward pass is over. Every replica runs
/// the same layers in the same order, so call k of each replica meets call k of the others.
public final class BatchStatisticsSum {
    /// This replica's share of the global batch, n_i / N: its loss is weighted by it.
    public let shareWeight: Double
    private let sum: (inout [Float], Int) throws -> Void
    public private(set) var failure: Error?
    private var calls = 0

    /// `sum(values, k)` replaces `values` by their sum over replicas; k numbers the calls.
    public init(shareWeight: Double, sum: @escaping (inout [Float], Int) throws -> Void) {
        self.shareWeight = shareWeight
        self.sum = sum
    }

    /// Sums `values` over replicas (in double precision locally, float32 on the wire).
    func callAsFunction(_ values: [Double]) -> [Double] {
        var buffer = values.map { Float($0) }
        defer { calls += 1 }
        guard failure == nil else { return values }
        do { try sum(&buffer, calls) } catch { failure = error; return values }
        return buffer.map(Double.init)
    }
}
