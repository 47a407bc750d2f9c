import Core

extension Activation {
    /// The gradient of the activation's input from its output's, given the input `x`
    /// (relu, swish) or the output (sigmoid, whose derivative is σ(1 − σ)), in float32 as
    /// PyTorch computes it: swish is x·σ(x), whose derivative is σ(x)·(1 + x·(1 − σ(x)))
    /// (efficientnet_pytorch's memory-efficient swish), σ from the kernels' vector exp as
    /// in the forward pass (`Kernels.activationBackward`).
    public func backward(_ gradient: [Float], input: [Float], output: [Float]) -> [Float] {
        precondition(gradient.count == input.count && gradient.count == output.count, "maps of different sizes")
        if self == .identity || gradient.isEmpty { return gradient }
        return [Float](unsafeUninitializedCapacity: gradient.count) { result, count in
            count = gradient.count
            gradient.withUnsafeBufferPointer { g in
                input.withUnsafeBufferPointer { x in
                    output.withUnsafeBufferPointer { y in
                        KernelSet.activationBackward(
                            g.baseAddress!, input: x.baseAddress!, output: y.baseAddress!, count: count, activation: kernelCode,
                            into: result.baseAddress!)
                    }
                }
            }
        }
    }
}
