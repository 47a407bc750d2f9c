import Core

/// Convolutions with few input channels per group — depthwise (one) and ResNeXt's grouped
/// 3×3 (4 to 32) — computed directly rather than by GEMM, whose tiny per-group matrices
/// would be all overhead.
extension Conv2d {
    /// Groups with at most this many input channels run directly (`usesDirectKernel`): with
    /// 16 a group (ResNeXt's layer3) the direct kernel took 13.6–14.0 ms a tile against
    /// im2col + OpenBLAS's 17.8–19.8, and 8.6–8.8 ms against 9.3–9.7 by im2col and the
    /// engine's own GEMM on a faster host.
    static let directChannelLimit = 32

    /// Depthwise, or grouped with few channels per group.
    var usesDirectKernel: Bool { isDepthwise || (groups > 1 && inChannels / groups <= Conv2d.directChannelLimit) }

    /// The output of a depthwise convolution and, for squeeze-excitation, the mean of each
    /// output channel after the activation, computed in the same pass.
    public func depthwiseWithMeans(_ x: Tensor) -> (output: Tensor, means: [Float]) {
        precondition(isDepthwise && x.channels == inChannels)
        var out = output(for: x)
        var means = [Float](repeating: 0, count: outChannels)
        measure(height: out.height, width: out.width) { means.withUnsafeMutableBufferPointer { direct(x, into: &out, channelMeans: $0.baseAddress!) } }
        return (out, means)
    }

    /// A task per group (several for small maps). The group's input channels are first copied into zero-padded planes
    /// whose columns are split by phase (x mod stride), so every tap of every output reads a
    /// contiguous run. Then, for each output channel of the group, eight outputs at a time
    /// accumulate all taps (input channel, then kernel row, then column) in registers, four
    /// blocks at once; the finished plane gets bias and activation while in cache.
    func direct(_ x: Tensor, into out: inout Tensor, channelMeans: UnsafeMutablePointer<Float>?) {
        let kh = kernel.height, kw = kernel.width, s = stride, d = dilation, taps = kh * kw
        let cin = inChannels / groups, cout = outChannels / groups
        let outHeight = out.height, outWidth = out.width, inHeight = x.height, inWidth = x.width
        let blocks = (outWidth + 7) / 8
        // Padded column j = x + left lives in phase j % s at index j / s.
        let phaseLength = blocks * 8 + ((kw - 1) * d) / s + 1
        let paddedWidth = phaseLength * s
        let paddedHeight = (outHeight - 1) * s + (kh - 1) * d + 1, paddedPlane = paddedHeight * paddedWidth
        let top = padding.top, left = padding.left
        let activation = self.activation
        // Where tap (c, ky, kx) starts relative to an output block's origin in the padded planes.
        var tapOffsets = [Int]()
        for c in 0..<cin {
            for ky in 0..<kh {
                for kx in 0..<kw { tapOffsets.append(c * paddedPlane + ky * d * paddedWidth + (kx * d) % s * phaseLength + (kx * d) / s) }
            }
        }
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        tapOffsets.withUnsafeBufferPointer { offsets in
                            let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                            let target = DisjointPointer(output.baseAddress!)
                            let weights = DisjointPointer(UnsafeMutablePointer(mutating: w.baseAddress!))
                            let biases = DisjointPointer(UnsafeMutablePointer(mutating: b.baseAddress!))
                            let tapOffset = DisjointPointer(UnsafeMutablePointer(mutating: offsets.baseAddress!))
                            let means = channelMeans.map { DisjointPointer($0) }
                            // Small maps take several groups a task, so that a task is worth
                            // its scratch allocation and its turn at the shared counter.
                            let groupsPerTask = max(1, min(64, 16_384 / max(1, outHeight * outWidth * cout)))
                            Parallel.forEach((groups + groupsPerTask - 1) / groupsPerTask) { task in
                                let padded = UnsafeMutablePointer<Float>.allocate(capacity: cin * paddedPlane)
                                let broadcast = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: cin * taps)
                                defer { padded.deallocate(); broadcast.deallocate() }
                                for group in (task * groupsPerTask)..<min(groups, (task + 1) * groupsPerTask) {
                                    for c in 0..<cin {
                                        KernelSet.pad(
                                            source.base + (group * cin + c) * inHeight * inWidth, height: inHeight, width: inWidth,
                                            top: top, left: left, stride: s, phaseLength: phaseLength, rows: paddedHeight,
                                            into: padded + c * paddedPlane)
                                    }
                                    for o in (group * cout)..<((group + 1) * cout) {
                                        for t in 0..<(cin * taps) { broadcast[t] = SIMD8(repeating: weights.base[o * cin * taps + t]) }
                                        let result = target.base + o * outHeight * outWidth
                                        KernelSet.accumulate(
                                            padded, taps: broadcast, offsets: tapOffset.base, count: cin * taps,
                                            blocks: blocks, rows: outHeight, rowStep: s * paddedWidth, width: outWidth,
                                            into: result)
                                        activation.apply(result, count: outHeight * outWidth, bias: biases.base[o])
                                        if let means { means.base[o] = Self.mean(result, count: outHeight * outWidth) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The mean of `count` values, summed eight lanes at a time.
    static func mean(_ values: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var sum = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            sum += UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { sum[0] += values[i]; i += 1 }
        return sum.sum() / Float(count)
    }
}
