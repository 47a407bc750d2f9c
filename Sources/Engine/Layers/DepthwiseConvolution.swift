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
    /// all kh×kw taps in registers (in kernel order); the finished plane gets bias and
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
                                        let last = inWidth - 1 - shift  // floor(last / s) is the last index
                                        let hi = last < 0 ? lo : max(min(last / s + 1, phaseLength), lo)
                                        part.update(repeating: 0, count: lo)
                                        let from = row + shift
                                        for i in lo..<hi { part[i] = from[i &* s] }
                                        (part + hi).update(repeating: 0, count: phaseLength - hi)
                                    }
                                }
                            }
                            for t in 0..<(kh * kw) { taps[t] = SIMD8(repeating: weights.base[c * kh * kw + t]) }
                            let result = target.base + c * outHeight * outWidth
                            // Output blocks of eight, numbered row by row; block b of row oy is
                            // at plane + b·8 when rows are whole blocks, otherwise in `ragged`.
                            let total = outHeight * blocks
                            let ragged = outWidth % 8 == 0 ? nil : UnsafeMutablePointer<Float>.allocate(capacity: total * 8)
                            defer { ragged?.deallocate() }
                            let plane = ragged ?? result
                            @inline(__always) func input(_ b: Int) -> UnsafeRawPointer {
                                let oy = b / blocks
                                return UnsafeRawPointer(padded + oy &* s &* paddedWidth + (b &- oy &* blocks) &* 8)
                            }
                            var b = 0
                            // Four blocks at once (of one row or several): independent sums
                            // hide the latency of the adds.
                            while b + 4 <= total {
                                let p0 = input(b), p1 = input(b + 1), p2 = input(b + 2), p3 = input(b + 3)
                                var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
                                for ky in 0..<kh {
                                    let rowOffset = ky &* rowStep
                                    for kx in 0..<kw {
                                        let offset = (rowOffset &+ tapOffsets[kx]) &* 4, t = taps[ky &* kw &+ kx]
                                        a0 += p0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * t
                                        a1 += p1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * t
                                        a2 += p2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * t
                                        a3 += p3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * t
                                    }
                                }
                                let out = UnsafeMutableRawPointer(plane + b * 8)
                                out.storeBytes(of: a0, as: SIMD8<Float>.self)
                                out.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
                                out.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
                                out.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
                                b += 4
                            }
                            while b < total {
                                let p0 = input(b)
                                var a0 = SIMD8<Float>()
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let offset = (ky &* rowStep &+ tapOffsets[kx]) &* 4
                                        a0 += p0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) * taps[ky &* kw &+ kx]
                                    }
                                }
                                UnsafeMutableRawPointer(plane + b * 8).storeBytes(of: a0, as: SIMD8<Float>.self)
                                b += 1
                            }
                            if let ragged {
                                for oy in 0..<outHeight {
                                    (result + oy * outWidth).update(from: ragged + oy * blocks * 8, count: outWidth)
                                }
                            }
                            activation.apply(result, count: outHeight * outWidth, bias: biases.base[c])
                            var sum = SIMD8<Float>()
                            if means != nil {
                                let count = outHeight * outWidth
                                var i = 0
                                while i + 8 <= count {
                                    sum += UnsafeRawPointer(result + i).loadUnaligned(as: SIMD8<Float>.self)
                                    i += 8
                                }
                                while i < count { sum[0] += result[i]; i += 1 }
                            }
                            means?.base[c] = sum.sum() / Float(outHeight * outWidth)
                        }
                    }
                }
            }
        }
    }
}
