import Shared

extension Conv2d {
    /// The output of a depthwise convolution and, for squeeze-excitation, the mean of each
    /// output channel after the activation, computed in the same pass.
    public func depthwiseWithMeans(_ x: Tensor) -> (output: Tensor, means: [Float]) {
        precondition(isDepthwise && x.channels == inChannels)
        var out = output(for: x)
        var means = [Float](repeating: 0, count: outChannels)
        measure(height: out.height, width: out.width) { means.withUnsafeMutableBufferPointer { depthwise(x, into: &out, channelMeans: $0.baseAddress!) } }
        return (out, means)
    }

    /// One input channel per output channel, a task per channel. The channel is first
    /// copied into a zero-padded plane whose columns are split by phase (x mod stride), so
    /// every tap of every output reads a contiguous run: eight outputs at a time accumulate
    /// all kh×kw taps in registers (in kernel order); each finished row gets bias and
    /// activation while in cache.
    func depthwise(_ x: Tensor, into out: inout Tensor, channelMeans: UnsafeMutablePointer<Float>?) {
        let kh = kernel.height, kw = kernel.width, s = stride, d = dilation
        let outHeight = out.height, outWidth = out.width, inHeight = x.height, inWidth = x.width
        let blocks = (outWidth + 7) / 8
        // Padded column j = x + left lives in phase j % s at index j / s.
        let phaseLength = blocks * 8 + ((kw - 1) * d) / s + 1
        let paddedWidth = phaseLength * s
        let paddedHeight = (outHeight - 1) * s + (kh - 1) * d + 1
        let top = padding.top, left = padding.left
        let activation = self.activation
        // Where tap column kx starts in a padded row, and the distance between padded rows of
        // successive kernel rows.
        let tapOffsets = (0..<kw).map { kx in (kx * d) % s * phaseLength + (kx * d) / s }
        let rowStep = d * paddedWidth
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                        let target = DisjointPointer(output.baseAddress!)
                        let weights = DisjointPointer(UnsafeMutablePointer(mutating: w.baseAddress!))
                        let biases = DisjointPointer(UnsafeMutablePointer(mutating: b.baseAddress!))
                        let means = channelMeans.map { DisjointPointer($0) }
                        Parallel.forEach(outChannels) { c in
                            let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedHeight * paddedWidth)
                            let taps = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: kh * kw)
                            defer { padded.deallocate(); taps.deallocate() }
                            let channel = source.base + c * inHeight * inWidth
                            for r in 0..<paddedHeight {
                                let line = padded + r * paddedWidth, y = r - top
                                guard y >= 0 && y < inHeight else {
                                    line.update(repeating: 0, count: paddedWidth)
                                    continue
                                }
                                let row = channel + y * inWidth
                                if s == 1 {
                                    let lo = min(max(left, 0), paddedWidth), hi = min(max(left + inWidth, lo), paddedWidth)
                                    line.update(repeating: 0, count: lo)
                                    (line + lo).update(from: row + (lo - left), count: hi - lo)
                                    (line + hi).update(repeating: 0, count: paddedWidth - hi)
                                } else {
                                    for phase in 0..<s {
                                        // Indices i whose column i·s + phase − left is inside the row.
                                        let part = line + phase * phaseLength, shift = phase - left
                                        let lo = min(max((-shift + s - 1) / s, 0), phaseLength)
                                        let hi = max(min((inWidth - 1 - shift) / s + 1, phaseLength), lo)
                                        part.update(repeating: 0, count: lo)
                                        let from = row + shift
                                        for i in lo..<hi { part[i] = from[i &* s] }
                                        (part + hi).update(repeating: 0, count: phaseLength - hi)
                                    }
                                }
                            }
                            for t in 0..<(kh * kw) { taps[t] = SIMD8(repeating: weights.base[c * kh * kw + t]) }
                            let result = target.base + c * outHeight * outWidth
                            let line = UnsafeMutablePointer<Float>.allocate(capacity: blocks * 8)
                            defer { line.deallocate() }
                            var sum = SIMD8<Float>()
                            for oy in 0..<outHeight {
                                // Whole blocks go straight to the output row; a ragged row goes
                                // through `line`.
                                let line = outWidth % 8 == 0 ? result + oy * outWidth : line
                                let rows = padded + oy * s * paddedWidth
                                var block = 0
                                // Four blocks at once: independent sums hide the add latency.
                                while block + 4 <= blocks {
                                    var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
                                    for ky in 0..<kh {
                                        let row = rows + ky &* rowStep + block &* 8
                                        for kx in 0..<kw {
                                            let p = UnsafeRawPointer(row + tapOffsets[kx]), t = taps[ky &* kw &+ kx]
                                            a0 += p.loadUnaligned(as: SIMD8<Float>.self) * t
                                            a1 += p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) * t
                                            a2 += p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) * t
                                            a3 += p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) * t
                                        }
                                    }
                                    let out = UnsafeMutableRawPointer(line + block * 8)
                                    out.storeBytes(of: a0, as: SIMD8<Float>.self)
                                    out.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
                                    out.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
                                    out.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
                                    block += 4
                                }
                                while block < blocks {
                                    var a0 = SIMD8<Float>()
                                    for ky in 0..<kh {
                                        let row = rows + ky &* rowStep + block &* 8
                                        for kx in 0..<kw {
                                            a0 += UnsafeRawPointer(row + tapOffsets[kx]).loadUnaligned(as: SIMD8<Float>.self) * taps[ky &* kw &+ kx]
                                        }
                                    }
                                    UnsafeMutableRawPointer(line + block * 8).storeBytes(of: a0, as: SIMD8<Float>.self)
                                    block += 1
                                }
                                activation.apply(line, count: outWidth, bias: biases.base[c])
                                if outWidth % 8 != 0 { (result + oy * outWidth).update(from: line, count: outWidth) }
                                if means != nil {
                                    var i = 0
                                    while i + 8 <= outWidth {
                                        sum += UnsafeRawPointer(line + i).loadUnaligned(as: SIMD8<Float>.self)
                                        i += 8
                                    }
                                    while i < outWidth { sum[0] += line[i]; i += 1 }
                                }
                            }
                            means?.base[c] = sum.sum() / Float(outHeight * outWidth)
                        }
                    }
                }
            }
        }
    }
}
