import Foundation
import Shared

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
        tensor.data.withUnsafeMutableBufferPointer { applyInParallel($0) }
    }

    /// `apply` split over the cores for large maps (swish and sigmoid cost an exp a value).
    public func applyInParallel(_ values: UnsafeMutableBufferPointer<Float>) {
        guard self != .identity else { return }
        let chunks = values.count >= 1 << 16 ? Conv2d.parallelism : 1
        guard chunks > 1 else { return apply(values) }
        let base = DisjointPointer(values.baseAddress!), count = values.count
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * count / chunks, end = (chunk + 1) * count / chunks
            apply(UnsafeMutableBufferPointer(start: base.base + start, count: end - start))
        }
    }
}
