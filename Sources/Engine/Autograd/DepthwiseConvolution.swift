import Core
import Foundation

/// Training forward and backward of a depthwise convolution (one input channel per output
/// channel: EfficientNet's 3×3 and 5×5) by direct loops: as im2col and GEMM its products
/// are matrix-vector ones, all overhead. Each kernel tap walks the run of output columns
/// whose input lies inside the image, so no padding is tested pixel by pixel. Sums run in a
/// fixed order; the weight's gradient accumulates each row in float (`dot`) and rows in double.
enum DepthwiseConvolution {
    static func forward(_ x: Tensor, weight: [Float], bias: [Float]?, shape: ConvolutionShape) -> Tensor {
        let (oh, ow) = shape.outputSize(height: x.height, width: x.width)
        var y = Tensor(channels: shape.outputChannels, height: oh, width: ow)
        let taps = shape.kernel * shape.kernel, (height, width) = (x.height, x.width)
        x.data.withUnsafeBufferPointer { input in
            y.data.withUnsafeMutableBufferPointer { output in
                for c in 0..<x.channels {
                    let plane = input.baseAddress! + c * height * width, out = output.baseAddress! + c * oh * ow
                    if let bias { out.update(repeating: bias[c], count: oh * ow) }
                    forEachTap(height: height, width: width, shape: shape, outputHeight: oh, outputWidth: ow) { tap, oy, iy, first, count, offset in
                        let w = weight[c * taps + tap], from = plane + iy * width + offset, to = out + oy * ow + first
                        if shape.stride == 1 {
                            Self.addScaled(w, from, count: count, into: to)
                        } else {
                            for i in 0..<count { to[i] += w * from[i &* shape.stride] }
                        }
                    }
                }
            }
        }
        return y
    }

    static func backward(
        _ dy: Tensor, input x: Tensor, weight: [Float], shape: ConvolutionShape, inputGradient: Bool
    )
        -> (input: Tensor, weight: [Float], bias: [Double])
    {
        let (oh, ow) = (dy.height, dy.width), (height, width) = (x.height, x.width)
        let taps = shape.kernel * shape.kernel
        var dx = inputGradient ? Tensor(channels: x.channels, height: height, width: width) : Tensor(channels: 0, height: 0, width: 0)
        var dWeight = [Double](repeating: 0, count: shape.weightCount)
        x.data.withUnsafeBufferPointer { input in
            dy.data.withUnsafeBufferPointer { gradient in
                dx.data.withUnsafeMutableBufferPointer { dInput in
                    for c in 0..<x.channels {
                        let plane = input.baseAddress! + c * height * width, g = gradient.baseAddress! + c * oh * ow
                        forEachTap(height: height, width: width, shape: shape, outputHeight: oh, outputWidth: ow) { tap, oy, iy, first, count, offset in
                            let from = plane + iy * width + offset, dyRow = g + oy * ow + first
                            dWeight[c * taps + tap] += Double(Self.dot(dyRow, from, count: count, stride: shape.stride))
                            guard inputGradient else { return }
                            let w = weight[c * taps + tap], to = dInput.baseAddress! + c * height * width + iy * width + offset
                            if shape.stride == 1 {
                                Self.addScaled(w, dyRow, count: count, into: to)
                            } else {
                                for i in 0..<count { to[i &* shape.stride] += w * dyRow[i] }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dWeight.map(Float.init), ConvolutionTraining.channelSums(dy))
    }

    /// Σ a[i]·b[i·stride] for i < count in float: with stride 1 in sixteen running sums
    /// (lane j takes i ≡ j mod 16) folded to four, which go on four at a time, folded to
    /// one, then the last values in order; otherwise in order. The order depends on
    /// `count` alone.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, stride: Int) -> Float {
        guard stride == 1 else {
            var sum: Float = 0
            for i in 0..<count { sum += a[i] * b[i &* stride] }
            return sum
        }
        var lanes = SIMD16<Float>(), i = 0
        while i + 16 <= count {
            lanes += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        let eight = lanes.lowHalf + lanes.highHalf
        var four = eight.lowHalf + eight.highHalf
        while i + 4 <= count {
            four += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD4<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD4<Float>.self)
            i += 4
        }
        let two = four.lowHalf + four.highHalf
        var sum = two[0] + two[1]
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// y[i] += w·x[i] for i < count, sixteen at a time: each value rounded as alone (the
    /// product, then the sum), so the same bits as one at a time.
    @inline(__always)
    static func addScaled(_ w: Float, _ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let scale = V(repeating: w)
        var i = 0
        while i + 16 <= count {
            let target = UnsafeMutableRawPointer(y + i)
            target.storeBytes(of: target.loadUnaligned(as: V.self) + scale * UnsafeRawPointer(x + i).loadUnaligned(as: V.self), as: V.self)
            i += 16
        }
        while i < count {
            y[i] += w * x[i]
            i += 1
        }
    }

    /// Calls `body(tap, output row, input row, first output column, count, input column of
    /// the first)` for every kernel tap and output row whose taps fall inside the input.
    @inline(__always)
    private static func forEachTap(
        height: Int, width: Int, shape: ConvolutionShape, outputHeight oh: Int, outputWidth ow: Int,
        _ body: (Int, Int, Int, Int, Int, Int) -> Void
    ) {
        for oy in 0..<oh {
            for ky in 0..<shape.kernel {
                let iy = oy * shape.stride - shape.padTop + ky * shape.dilation
                guard iy >= 0 && iy < height else { continue }
                for kx in 0..<shape.kernel {
                    let offset = kx * shape.dilation - shape.padLeft
                    let first = offset >= 0 ? 0 : (-offset + shape.stride - 1) / shape.stride
                    let last = min(ow - 1, (width - 1 - offset) >= 0 ? (width - 1 - offset) / shape.stride : -1)
                    guard last >= first else { continue }
                    body(ky * shape.kernel + kx, oy, iy, first, last - first + 1, first * shape.stride + offset)
                }
            }
        }
    }
}
