import OpenBLAS

/// A 2-D convolution as PyTorch's `nn.Conv2d` computes it (cross-correlation), with groups,
/// dilation, stride and padding that may differ on each side (TensorFlow "SAME" pads one
/// more pixel at the bottom and right than at the top and left).
///
/// Weights are [out, in / groups, kh, kw], as in a PyTorch state_dict. Ordinary and grouped
/// convolutions run as im2col + OpenBLAS sgemm per group; depthwise ones (one input
/// channel per group) run a direct loop, where GEMM would be all overhead. A folded batch
/// norm and an activation are applied in the same pass over the output.
public final class Conv2d {
    public struct Padding: Sendable, Equatable {
        public var top: Int, left: Int, bottom: Int, right: Int
        public init(top: Int, left: Int, bottom: Int, right: Int) {
            self.top = top; self.left = left; self.bottom = bottom; self.right = right
        }
        /// The same padding on every side.
        public static func uniform(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    }

    public let inChannels: Int
    public let outChannels: Int
    public let kernel: (height: Int, width: Int)
    public let stride: Int
    public let padding: Padding
    public let dilation: Int
    public let groups: Int
    /// [out, in / groups, kh, kw].
    public var weight: [Float]
    /// One per output channel (zeros when the layer has none).
    public var bias: [Float]
    public var activation: Activation

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .uniform(0),
                dilation: Int = 1, groups: Int = 1, activation: Activation = .identity) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide into groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel, kernel)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.activation = activation
        weight = [Float](repeating: 0, count: outChannels * (inChannels / groups) * kernel * kernel)
        bias = [Float](repeating: 0, count: outChannels)
    }

    /// The shape a PyTorch state_dict gives the weight.
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel.height, kernel.width] }

    /// Folds a following batch norm into the weights and bias: conv(x)·s + t.
    public func fold(_ norm: BatchNorm) {
        let (scale, shift) = norm.scaleAndShift
        let perOutput = weight.count / outChannels
        for o in 0..<outChannels {
            for i in 0..<perOutput { weight[o * perOutput + i] *= scale[o] }
            bias[o] = bias[o] * scale[o] + shift[o]
        }
    }

    /// Output size for an input size along one axis.
    public func outputSize(_ input: Int, kernel k: Int, before: Int, after: Int) -> Int {
        (input + before + after - dilation * (k - 1) - 1) / stride + 1
    }

    /// Multiply-adds of every convolution run since the count was last reset, when
    /// `countingMultiplyAdds` is on (benchmarks report GFLOP/s from it).
    nonisolated(unsafe) public static var countingMultiplyAdds = false
    nonisolated(unsafe) public static var multiplyAdds = 0

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.channels == inChannels, "expected \(inChannels) channels, got \(x.channels)")
        let outHeight = outputSize(x.height, kernel: kernel.height, before: padding.top, after: padding.bottom)
        let outWidth = outputSize(x.width, kernel: kernel.width, before: padding.left, after: padding.right)
        if Self.countingMultiplyAdds {
            Self.multiplyAdds += outChannels * outHeight * outWidth * (inChannels / groups) * kernel.height * kernel.width
        }
        var out = Tensor(channels: outChannels, height: outHeight, width: outWidth)
        if groups == inChannels && inChannels == outChannels {
            depthwise(x, into: &out)
        } else {
            gemm(x, into: &out)
        }
        return out
    }

    private func gemm(_ x: Tensor, into out: inout Tensor) {
        let cin = inChannels / groups, cout = outChannels / groups
        let kh = kernel.height, kw = kernel.width
        let k = cin * kh * kw, n = out.height * out.width
        let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == .uniform(0)
        var columns = pointwise ? [] : [Float](repeating: 0, count: k * n)
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                weight.withUnsafeBufferPointer { w in
                    for g in 0..<groups {
                        let source: UnsafePointer<Float>
                        if pointwise {
                            source = input.baseAddress! + g * cin * x.planeSize
                        } else {
                            columns.withUnsafeMutableBufferPointer { col in
                                im2col(input.baseAddress! + g * cin * x.planeSize, channels: cin, height: x.height, width: x.width,
                                       outHeight: out.height, outWidth: out.width, into: col.baseAddress!)
                            }
                            source = columns.withUnsafeBufferPointer { $0.baseAddress! }
                        }
                        BLAS.sgemm(m: cout, n: n, k: k, a: w.baseAddress! + g * cout * k, lda: k,
                                   b: source, ldb: n, c: output.baseAddress! + g * cout * n, ldc: n)
                    }
                }
                epilogue(output, plane: n)
            }
        }
    }

    /// Unfolds input patches into a (cin·kh·kw) × (outH·outW) matrix, zeros outside.
    private func im2col(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, into col: UnsafeMutablePointer<Float>) {
        let kh = kernel.height, kw = kernel.width
        var row = 0
        for c in 0..<channels {
            let plane = input + c * height * width
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let target = col + row * outHeight * outWidth
                    for oy in 0..<outHeight {
                        let y = oy * stride - padding.top + ky * dilation
                        let line = target + oy * outWidth
                        if y < 0 || y >= height {
                            line.update(repeating: 0, count: outWidth)
                            continue
                        }
                        let sourceRow = plane + y * width
                        for ox in 0..<outWidth {
                            let x = ox * stride - padding.left + kx * dilation
                            line[ox] = x >= 0 && x < width ? sourceRow[x] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// One input channel per output channel: a direct loop over the kernel.
    private func depthwise(_ x: Tensor, into out: inout Tensor) {
        let kh = kernel.height, kw = kernel.width
        let outHeight = out.height, outWidth = out.width
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                weight.withUnsafeBufferPointer { w in
                    for c in 0..<outChannels {
                        let plane = input.baseAddress! + c * x.planeSize
                        let target = output.baseAddress! + c * outHeight * outWidth
                        let kernelWeights = w.baseAddress! + c * kh * kw
                        for oy in 0..<outHeight {
                            for ox in 0..<outWidth {
                                var sum: Float = 0
                                for ky in 0..<kh {
                                    let y = oy * stride - padding.top + ky * dilation
                                    if y < 0 || y >= x.height { continue }
                                    for kx in 0..<kw {
                                        let xx = ox * stride - padding.left + kx * dilation
                                        if xx < 0 || xx >= x.width { continue }
                                        sum += plane[y * x.width + xx] * kernelWeights[ky * kw + kx]
                                    }
                                }
                                target[oy * outWidth + ox] = sum
                            }
                        }
                    }
                }
                epilogue(output, plane: outHeight * outWidth)
            }
        }
    }

    /// Adds the bias and applies the activation.
    private func epilogue(_ output: UnsafeMutableBufferPointer<Float>, plane: Int) {
        for o in 0..<outChannels where bias[o] != 0 {
            let base = o * plane
            for i in 0..<plane { output[base + i] += bias[o] }
        }
        activation.apply(output)
    }
}
