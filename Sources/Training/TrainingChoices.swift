import Engine

/// The fixed choices of a training run, as `run.json`, the wire's settings and the command
/// line name them (the raw values): one type each instead of strings checked where used.

/// "adamw" (β 0.9/0.999, ε 1e-8) or "sgd" (momentum 0.9, Nesterov).
public enum OptimizerChoice: String, Sendable, Codable, CaseIterable {
    case adamw, sgd

    func optimizer(weightDecay: Double) -> Optimizer {
        switch self {
        case .adamw: .adamW(weightDecay: weightDecay)
        case .sgd: .sgd(momentum: 0.9, nesterov: true, weightDecay: weightDecay)
        }
    }
}

/// "bce-dice" (mean BCE + soft Dice per image), "bce", "dice" or "lovasz" (the fast.ai
/// starter's symmetric Lovász hinge).
public enum LossChoice: String, Sendable, Codable, CaseIterable {
    case bceDice = "bce-dice", bce, dice, lovasz

    var loss: SegmentationLoss {
        switch self {
        case .bceDice: .bceDice()
        case .bce: .bce()
        case .dice: .dice
        case .lovasz: .symmetricLovasz
        }
    }
}

/// "onecycle" (fast.ai's fit_one_cycle) or "cosine" (after `warmUpSteps` of linear warm-up).
public enum ScheduleChoice: String, Sendable, Codable, CaseIterable {
    case onecycle, cosine
}
