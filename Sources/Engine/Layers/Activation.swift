import Core

/// Element-wise activations, applied in place (fused into the layer that precedes them).
/// Swish and sigmoid use a vector exp (`EngineKernels`), within about 2e-7 of libm's `expf`.
public enum Activation: Sendable {
    case identity, relu, swish, sigmoid

    /// Adds `bias` to `count` values and applies the activation, in one pass.
    @inline(__always)
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int, bias: Float = 0) {
        KernelSet.activate(values, count: count, bias: bias, activation: kernelCode)
    }

    /// How the kernels (`Kernels.activate`) name this activation.
    var kernelCode: Int {
        switch self {
        case .identity: 0
        case .relu: 1
        case .swish: 2
        case .sigmoid: 3
        }
    }

    /// The activation of x as a new map (x is kept), in one pass.
    public func applied(to x: Tensor) -> Tensor {
        guard self != .identity, !x.data.isEmpty else { return x }
        var y = Tensor(uninitializedChannels: x.channels, height: x.height, width: x.width)
        x.data.withUnsafeBufferPointer { source in
            y.data.withUnsafeMutableBufferPointer { activateInParallel(source.baseAddress!, into: $0.baseAddress!, count: source.count) }
        }
        return y
    }

    public func apply(_ tensor: inout Tensor) {
        tensor.data.withUnsafeMutableBufferPointer { applyInParallel($0) }
    }

    /// `apply` split over the engine's threads for large maps.
    public func applyInParallel(_ values: UnsafeMutableBufferPointer<Float>) {
        guard self != .identity, values.count > 0 else { return }
        activateInParallel(values.baseAddress!, into: values.baseAddress!, count: values.count)
    }

    /// target[i] = activation(source[i]) (the same pointer: in place), in chunks over the
    /// engine's threads for large maps.
    private func activateInParallel(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        let to = DisjointPointer(target)
        Parallel.forEachRange(count, chunks: Parallel.chunks(forElements: count)) { range in
            KernelSet.activate(source + range.lowerBound, into: to.base + range.lowerBound, count: range.count, activation: kernelCode)
        }
    }
}
