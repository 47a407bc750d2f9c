import Core
import Foundation

/// The losses a segmentation member trains with, over a batch of single-channel logit
/// maps z and 0/1 masks y of the same size, with their gradients with respect to the
/// logits (issue: Training I). Sums run in double precision in a fixed order, so the value
/// and the gradient are the same whatever the thread count.
///
/// - `bce`: binary cross-entropy with logits, the mean over every pixel of the batch, as
///   `torch.nn.BCEWithLogitsLoss(pos_weight:)`: ℓ = −[p·y·log σ(z) + (1 − y)·log(1 − σ(z))],
///   computed stably as (1 − y)·z + (1 + (p − 1)·y)·(log(1 + e^−|z|) + max(−z, 0)).
/// - `dice`: soft Dice per image, averaged over the batch:
///   1 − (2·Σσ(z)·y + 1) / (Σσ(z) + Σy + 1).
/// - `bceDice`: their sum, the default.
/// - `symmetricLovasz`: the fast.ai HuBMAP starter's ½·(Lovász hinge(z, y) + Lovász
///   hinge(−z, 1 − y)), each per image and averaged over the batch (Berman et al.).
public enum SegmentationLoss: Sendable, Equatable {
    case bce(positiveWeight: Double = 1)
    case dice
    case bceDice(positiveWeight: Double = 1)
    case symmetricLovasz

    /// The loss of a batch and its gradient with respect to each logit: `logits[b]` and
    /// `masks[b]` hold image b's pixels (any layout, the same for both).
    public func evaluate(logits: [[Float]], masks: [[Float]]) throws -> (loss: Double, gradients: [[Float]]) {
        guard !logits.isEmpty, logits.count == masks.count else {
            throw TesseraError("loss", "\(logits.count) logit maps for \(masks.count) masks", code: .mismatch)
        }
        for (b, (z, y)) in zip(logits, masks).enumerated() where z.count != y.count || z.isEmpty {
            throw TesseraError("loss", "image \(b): \(z.count) logits for \(y.count) mask pixels", code: .mismatch)
        }
        let total = Double(logits.reduce(0) { $0 + $1.count })
        var loss = 0.0
        var gradients = logits.map { [Double](repeating: 0, count: $0.count) }
        if self == .symmetricLovasz {
            let batch = Double(logits.count)
            for b in logits.indices {
                for flip in [false, true] {
                    let z = flip ? logits[b].map { -Double($0) } : logits[b].map(Double.init)
                    let y = flip ? masks[b].map { 1 - Double($0) } : masks[b].map(Double.init)
                    let (value, dz) = Self.lovaszHinge(logits: z, labels: y)
                    loss += value / (2 * batch)
                    for i in dz.indices { gradients[b][i] += (flip ? -dz[i] : dz[i]) / (2 * batch) }
                }
            }
            return (loss, gradients.map { $0.map(Float.init) })
        }
        if let p = positiveWeight {
            for b in logits.indices {
                for i in logits[b].indices {
                    let z = Double(logits[b][i]), y = Double(masks[b][i])
                    let weight = 1 + (p - 1) * y
                    loss += ((1 - y) * z + weight * (log1p(exp(-abs(z))) + max(-z, 0))) / total
                    gradients[b][i] += (weight * Self.sigmoid(z) - p * y) / total
                }
            }
        }
        if usesDice {
            let batch = Double(logits.count)
            for b in logits.indices {
                let s = logits[b].map { Self.sigmoid(Double($0)) }
                var intersection = 0.0, predicted = 0.0, truth = 0.0
                for i in s.indices {
                    intersection += s[i] * Double(masks[b][i])
                    predicted += s[i]
                    truth += Double(masks[b][i])
                }
                let denominator = predicted + truth + 1
                loss += (1 - (2 * intersection + 1) / denominator) / batch
                for i in s.indices {
                    let dDice = -(2 * Double(masks[b][i]) * denominator - (2 * intersection + 1)) / (denominator * denominator)
                    gradients[b][i] += dDice * s[i] * (1 - s[i]) / batch
                }
            }
        }
        return (loss, gradients.map { $0.map(Float.init) })
    }

    private var positiveWeight: Double? {
        switch self {
        case .bce(let p), .bceDice(let p): p
        case .dice, .symmetricLovasz: nil
        }
    }

    private var usesDice: Bool {
        switch self {
        case .dice, .bceDice: true
        case .bce, .symmetricLovasz: false
        }
    }

    /// The Lovász hinge of one image and its gradient: hinge errors 1 − z·(2y − 1) sorted
    /// in decreasing order (ties kept in pixel order), weighted by the Lovász extension of
    /// the Jaccard loss, Σ relu(error)·ΔJ.
    static func lovaszHinge(logits z: [Double], labels y: [Double]) -> (Double, [Double]) {
        let errors = zip(z, y).map { 1 - $0 * (2 * $1 - 1) }
        let order = errors.indices.sorted { errors[$0] != errors[$1] ? errors[$0] > errors[$1] : $0 < $1 }
        let positives = y.reduce(0, +)
        var jaccard = [Double](repeating: 0, count: z.count)
        var cumulative = 0.0
        for (rank, i) in order.enumerated() {
            cumulative += y[i]
            let intersection = positives - cumulative, union = positives + Double(rank + 1) - cumulative
            jaccard[rank] = 1 - intersection / union
        }
        var loss = 0.0
        var gradient = [Double](repeating: 0, count: z.count)
        for (rank, i) in order.enumerated() {
            let weight = rank == 0 ? jaccard[0] : jaccard[rank] - jaccard[rank - 1]
            guard errors[i] > 0 else { continue }
            loss += errors[i] * weight
            gradient[i] = -(2 * y[i] - 1) * weight
        }
        return (loss, gradient)
    }

    static func sigmoid(_ z: Double) -> Double { z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)) }
}
