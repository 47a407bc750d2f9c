import Core
import Engine
import Foundation

/// Sums a flat buffer over the replicas of a data-parallel run, every replica ending with
/// the same bits: in the cluster, a ring all-reduce between the workers of a member.
public protocol ReplicaSum: AnyObject {
    /// Replaces `buffer` by the sum over replicas; `round` numbers the call.
    func sum(_ buffer: inout [Float], round: UInt64) throws
}

/// One replica's part of a data-parallel training step (issue 16). Each replica computes
/// the gradient of its share's loss scaled by its share of the global batch (n_i / N);
/// the replicas' sum is then the gradient of the whole batch's loss — mean BCE over every
/// pixel and soft Dice averaged over images both split this way — whatever the shares'
/// sizes. Every replica applies the same summed gradient, and batch norms' running
/// statistics are averaged the same way after the step, so replicas stay bit-identical.
///
/// With frozen batch norms this equals the single-process gradient of the global batch up
/// to float rounding. With batch statistics each replica normalises with its own share's
/// (as PyTorch DDP does by default), so the result is the average of the shares' gradients,
/// not the single-process one.
public enum DataParallelStep {
    /// The round of part `part` of step `step`'s sums: 0 the loss, 1 the running statistics,
    /// 2 … the gradients (one round, or one per bucket), 4096 + k the k-th sum of
    /// synchronised batch-norm statistics.
    public static func round(step: Int, part: Int) -> UInt64 { UInt64(step) << 20 | UInt64(part) }

    /// The part of a step's first synchronised batch-norm sum: call k is part 4096 + k.
    public static let statisticsPart = 4096

    /// Gradients of this replica's share, summed over replicas into `trainer.store.gradients`;
    /// returns the global batch's loss. With `bucketBytes`, gradients are summed in buckets
    /// of that size while the backward pass runs (`GradientBuckets`); otherwise in one sum
    /// after it. Either way every replica ends with the same bits.
    ///
    /// With `synchronisedBatchNorm`, batch norms in training mode normalise with the global
    /// batch's statistics, summed over the ring as they are computed (`BatchStatisticsSum`),
    /// so the sum is the single-process gradient of the global batch in training mode too.
    /// Those sums run on the compute thread, so gradients are then summed after the
    /// backward pass, not in buckets during it.
    public static func gradients(
        _ trainer: ModelTrainer, images: [Tensor], masks: [[Float]], globalCount: Int,
        normalisation: Tape.Normalisation, randoms: [SplitMix64]?, replicas: ReplicaSum, step: Int,
        bucketBytes: Int? = nil, synchronisedBatchNorm: Bool = false
    ) throws -> Double {
        precondition(globalCount >= images.count && !images.isEmpty, "a share of the global batch")
        let weight = Float(Double(images.count) / Double(globalCount))
        if synchronisedBatchNorm {
            let statistics = BatchStatisticsSum(shareWeight: Double(images.count) / Double(globalCount)) { values, call in
                try replicas.sum(&values, round: round(step: step, part: statisticsPart + call))
            }
            let (loss, _) = try trainer.gradients(
                images: images, masks: masks, normalisation: normalisation, randoms: randoms,
                synchronisedStatistics: statistics)
            trainer.store.gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= weight } }
            try replicas.sum(&trainer.store.gradients, round: round(step: step, part: 2))
            return try sumLoss(loss, weight: weight, replicas: replicas, step: step)
        }
        if let bucketBytes {
            let buckets = GradientBuckets(store: trainer.store, bytes: bucketBytes, replicas: replicas, weight: weight, step: step)
            let outcome = Result {
                try trainer.gradients(
                    images: images, masks: masks, normalisation: normalisation, randoms: randoms,
                    onGradient: buckets.ready)
            }
            try buckets.finish()
            return try sumLoss(try outcome.get().loss, weight: weight, replicas: replicas, step: step)
        }
        let (loss, _) = try trainer.gradients(images: images, masks: masks, normalisation: normalisation, randoms: randoms)
        trainer.store.gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= weight } }
        try replicas.sum(&trainer.store.gradients, round: round(step: step, part: 2))
        return try sumLoss(loss, weight: weight, replicas: replicas, step: step)
    }

    private static func sumLoss(_ loss: Double, weight: Float, replicas: ReplicaSum, step: Int) throws -> Double {
        var total = [Float(loss) * weight]
        try replicas.sum(&total, round: round(step: step, part: 0))
        return Double(total[0])
    }

    /// Averages the batch norms' running statistics over replicas, weighted by their shares.
    public static func averageRunningStatistics(
        _ trainer: ModelTrainer, shareCount: Int, globalCount: Int, replicas: ReplicaSum,
        step: Int
    ) throws {
        let weight = Float(Double(shareCount) / Double(globalCount))
        let buffers = trainer.store.entries.filter { !$0.isParameter }
        var values = buffers.flatMap { trainer.store.values[$0.range].map { $0 * weight } }
        try replicas.sum(&values, round: round(step: step, part: 1))
        var offset = 0
        for entry in buffers {
            trainer.store.values.replaceSubrange(entry.range, with: values[offset..<(offset + entry.range.count)])
            offset += entry.range.count
        }
    }
}
