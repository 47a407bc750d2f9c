import Foundation

/// Learning rate (and momentum) by step, as the seed's notebooks trained.
public enum LearningRateSchedule: Sendable, Equatable {
    /// fast.ai's `fit_one_cycle`: cosine from lr/`divisor` up to lr over the first
    /// `warmUpFraction` of the steps, then cosine down to lr/`finalDivisor`;
    /// momentum (SGD's, or Adam's β1) goes the other way, high → low → high.
    case oneCycle(
        maxLR: Double, warmUpFraction: Double = 0.25, divisor: Double = 25, finalDivisor: Double = 1e5,
        highMomentum: Double = 0.95, lowMomentum: Double = 0.85)
    /// Linear warm-up from 0 over `warmUpSteps`, then cosine from `maxLR` to `minLR`.
    case cosine(maxLR: Double, minLR: Double = 0, warmUpSteps: Int = 0)

    /// The learning rate, and the scheduled momentum if any, at `step` (0-based) of `steps`.
    public func values(step: Int, of steps: Int) -> (lr: Double, momentum: Double?) {
        let steps = max(steps, 1)
        switch self {
        case .oneCycle(let maxLR, let warmUpFraction, let divisor, let finalDivisor, let high, let low):
            // fast.ai's combined_cos, at position step/steps as its scheduler sets it.
            let position = Double(step) / Double(steps)
            let start = maxLR / divisor, end = maxLR / finalDivisor
            if position < warmUpFraction {
                let progress = position / warmUpFraction
                return (Self.cosine(from: start, to: maxLR, progress), Self.cosine(from: high, to: low, progress))
            }
            let progress = (position - warmUpFraction) / (1 - warmUpFraction)
            return (Self.cosine(from: maxLR, to: end, progress), Self.cosine(from: low, to: high, progress))
        case .cosine(let maxLR, let minLR, let warmUpSteps):
            if step < warmUpSteps { return (maxLR * Double(step + 1) / Double(warmUpSteps), nil) }
            let progress = Double(step - warmUpSteps) / Double(max(steps - warmUpSteps, 1))
            return (Self.cosine(from: maxLR, to: minLR, progress), nil)
        }
    }

    /// fast.ai's `SchedCos`: start + (1 + cos(π(1 − progress)))·(end − start)/2.
    static func cosine(from start: Double, to end: Double, _ progress: Double) -> Double {
        start + (1 + cos(Double.pi * (1 - min(max(progress, 0), 1)))) * (end - start) / 2
    }
}
