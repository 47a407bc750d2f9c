import Shared

/// Element-wise activations, applied in place (fused into the layer that precedes them).
/// Swish and sigmoid use `VectorMath.exp`, within about 2e-7 of libm's `expf`.
public enum Activation: Sendable {
    case identity, relu, swish, sigmoid

    /// Adds `bias` to `count` values and applies the activation, in one pass.
    @inline(__always)
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int, bias: Float = 0) {
        let b = SIMD8<Float>(repeating: bias)
        switch self {
        case .identity:
            if bias != 0 { VectorMath.map(values, count: count) { $0 + b } }
        case .relu: VectorMath.map(values, count: count) { Activation.relu.vector($0 + b) }
        case .swish: VectorMath.map(values, count: count) { VectorMath.swish($0 + b) }
        case .sigmoid: VectorMath.map(values, count: count) { VectorMath.sigmoid($0 + b) }
        }
    }

    /// The activation of eight values (for kernels that keep their results in registers).
    @inline(__always)
    public func vector(_ v: SIMD8<Float>) -> SIMD8<Float> {
        switch self {
        case .identity: return v
        case .relu: var v = v; v.replace(with: 0, where: v .< 0); return v
        case .swish: return VectorMath.swish(v)
        case .sigmoid: return VectorMath.sigmoid(v)
        }
    }

    /// Applies the activation to every value of `values`.
    public func apply(_ values: UnsafeMutableBufferPointer<Float>) {
        apply(values.baseAddress!, count: values.count)
    }

    public func apply(_ tensor: inout Tensor) {
        tensor.data.withUnsafeMutableBufferPointer { applyInParallel($0) }
    }

    /// `apply` split over the engine's threads for large maps.
    public func applyInParallel(_ values: UnsafeMutableBufferPointer<Float>) {
        guard self != .identity, values.count > 0 else { return }
        let base = DisjointPointer(values.baseAddress!)
        Parallel.forEachRange(values.count, chunks: Parallel.chunks(forElements: values.count)) { range in
            apply(base.base + range.lowerBound, count: range.count)
        }
    }
}
