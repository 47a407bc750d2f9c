import Foundation

/// Element-wise activations, applied in place (fused into the layer that precedes them).
public enum Activation: Sendable {
    case identity, relu, swish, sigmoid

    /// Applies the activation to every value of `values`.
    @inlinable
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        switch self {
        case .identity: break
        case .relu: for i in 0..<values.count { values[i] = max(values[i], 0) }
        case .swish: for i in 0..<values.count { let v = values[i]; values[i] = v / (1 + exp(-v)) }
        case .sigmoid: for i in 0..<values.count { values[i] = 1 / (1 + exp(-values[i])) }
        }
    }

    public func apply(_ tensor: inout Tensor) {
        tensor.data.withUnsafeMutableBufferPointer { apply($0) }
    }
}
