import Core
import Foundation

extension Activation {
    /// The gradient of the activation's input from its output's, given the input `x`
    /// (relu, swish) or the output (sigmoid, whose derivative is σ(1 − σ)).
    /// Swish is x·σ(x), whose derivative is σ(x)·(1 + x·(1 − σ(x))).
    public func backward(_ gradient: [Float], input: [Float], output: [Float]) -> [Float] {
        precondition(gradient.count == input.count && gradient.count == output.count, "maps of different sizes")
        switch self {
        case .identity:
            return gradient
        case .relu:
            return zip(gradient, input).map { $1 > 0 ? $0 : 0 }
        case .sigmoid:
            return zip(gradient, output).map { $0 * $1 * (1 - $1) }
        case .swish:
            return zip(gradient, input).map { g, x in
                let s = Float(1 / (1 + exp(-Double(x))))
                return g * s * (1 + x * (1 - s))
            }
        }
    }
}
