import Core
import Foundation

extension Activation {
    /// The gradient of the activation's input from its output's, given the input `x`
    /// (relu, swish) or the output (sigmoid, whose derivative is σ(1 − σ)), in float32 as
    /// PyTorch computes it: swish is x·σ(x), whose derivative is σ(x)·(1 + x·(1 − σ(x)))
    /// (efficientnet_pytorch's memory-efficient swish).
    public func backward(_ gradient: [Float], input: [Float], output: [Float]) -> [Float] {
        precondition(gradient.count == input.count && gradient.count == output.count, "maps of different sizes")
        if self == .identity { return gradient }
        return [Float](unsafeUninitializedCapacity: gradient.count) { result, count in
            count = gradient.count
            gradient.withUnsafeBufferPointer { g in
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeBufferPointer { y in
                        for i in 0..<count {
                            switch self {
                            case .identity: result[i] = g[i]
                            case .relu: result[i] = x[i] > 0 ? g[i] : 0
                            case .sigmoid: result[i] = g[i] * (y[i] * (1 - y[i]))
                            case .swish:
                                let s = 1 / (1 + exp(-x[i]))
                                result[i] = g[i] * (s * (1 + x[i] * (1 - s)))
                            }
                        }
                    }
                }
            }
        }
    }
}
