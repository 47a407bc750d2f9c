import Core

/// Changes of resolution as PyTorch computes them.
public enum Resampling {
    /// `F.interpolate(mode="bilinear")` to `height` × `width`.
    ///
    /// With `alignCorners` false (PyTorch's default) source coordinates are
    /// (dst + 0.5) · in / out − 0.5, clamped at 0; with true, dst · (in − 1) / (out − 1).
    public static func bilinear(_ x: Tensor, height: Int, width: Int, alignCorners: Bool) -> Tensor {
        var out = Tensor(uninitializedChannels: x.channels, height: height, width: width)
        bilinear(x, alignCorners: alignCorners, into: &out, channelOffset: 0)
        return out
    }

    /// `bilinear` to out's size, written to out's channels from `channelOffset` on (a part
    /// of a concatenation).
    public static func bilinear(_ x: Tensor, alignCorners: Bool, into out: inout Tensor, channelOffset: Int) {
        let height = out.height, width = out.width
        let ys = bilinearCoordinates(height, x.height, alignCorners: alignCorners)
        let xs = bilinearCoordinates(width, x.width, alignCorners: alignCorners)
        let inWidth = x.width
        Tensor.forEachChannel(from: x, into: &out, channelOffset: channelOffset) { _, plane, target in
            for (oy, (y0, y1, wy)) in ys.enumerated() {
                let row0 = plane + y0 * inWidth, row1 = plane + y1 * inWidth
                for (ox, (x0, x1, wx)) in xs.enumerated() {
                    let top = (1 - wx) * row0[x0] + wx * row0[x1]
                    let bottom = (1 - wx) * row1[x0] + wx * row1[x1]
                    target[oy * width + ox] = (1 - wy) * top + wy * bottom
                }
            }
        }
    }

    /// For each output coordinate along one axis: the two source indices and the weight of
    /// the second, as PyTorch computes them (the backward pass uses the same).
    static func bilinearCoordinates(_ outSize: Int, _ inSize: Int, alignCorners: Bool) -> [(Int, Int, Float)] {
        (0..<outSize).map { d in
            var s: Float
            if alignCorners {
                s = outSize > 1 ? Float(d) * Float(inSize - 1) / Float(outSize - 1) : 0
            } else {
                s = (Float(d) + 0.5) * Float(inSize) / Float(outSize) - 0.5
                if s < 0 { s = 0 }
            }
            let i0 = Swift.min(Int(s), inSize - 1)
            let i1 = Swift.min(i0 + 1, inSize - 1)
            return (i0, i1, s - Float(i0))
        }
    }

    /// `nn.PixelShuffle(r)`: channel c·r² + i·r + j of the input becomes pixel
    /// (y·r + i, x·r + j) of output channel c.
    public static func pixelShuffle(_ x: Tensor, factor r: Int) -> Tensor {
        precondition(x.channels % (r * r) == 0)
        var out = Tensor(uninitializedChannels: x.channels / (r * r), height: x.height * r, width: x.width * r)
        pixelShuffle(x, factor: r, into: &out, channelOffset: 0)
        return out
    }

    /// `pixelShuffle` written to out's channels from `channelOffset` on (a part of a
    /// concatenation).
    public static func pixelShuffle(_ x: Tensor, factor r: Int, into out: inout Tensor, channelOffset: Int) {
        precondition(x.channels % (r * r) == 0 && out.height == x.height * r && out.width == x.width * r)
        let channels = x.channels / (r * r)
        precondition(channelOffset >= 0 && channelOffset + channels <= out.channels, "channels outside the output map")
        let height = x.height, width = x.width
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                let from = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                let to = DisjointPointer(output.baseAddress! + channelOffset * height * r * width * r)
                Parallel.forEach(channels) { c in
                    for i in 0..<r {
                        for j in 0..<r {
                            let source = from.base + (c * r * r + i * r + j) * height * width
                            for y in 0..<height {
                                let target = to.base + (c * height * r + y * r + i) * width * r + j
                                let row = source + y * width
                                for xx in 0..<width { target[xx &* r] = row[xx] }
                            }
                        }
                    }
                }
            }
        }
    }
}
