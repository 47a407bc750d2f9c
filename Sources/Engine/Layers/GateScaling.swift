/// Weights scaled by a squeeze-excitation gate, one factor per input channel, so that a
/// convolution of the ungated map gives the gated map's result without a pass over it.
enum GateScaling {
    /// values[i] · factors[(i / run) mod factors.count] in one pass into new storage: runs
    /// of `run` values share a factor, the factors in turn and then again from the first
    /// (plain weights: a factor per input channel, a run per its taps; packed weights: a
    /// factor per column of the GEMM, a run per block's rows).
    static func scaled(_ values: [Float], by factors: [Float], run: Int) -> [Float] {
        precondition(values.count % (factors.count * run) == 0, "the values are whole cycles of the factors")
        return [Float](unsafeUninitializedCapacity: values.count) { scaled, count in
            values.withUnsafeBufferPointer { values in
                factors.withUnsafeBufferPointer { factors in
                    var i = 0
                    for _ in 0..<(values.count / (factors.count * run)) {
                        for factor in factors {
                            for _ in 0..<run {
                                scaled.initializeElement(at: i, to: values[i] * factor)
                                i += 1
                            }
                        }
                    }
                }
            }
            count = values.count
        }
    }
}
