import Dispatch
import OpenBLAS
import Shared

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

    /// The output columns [first, end) where kernel column `kx` reads inside a row of
    /// `width` pixels: x = ox·stride − left + kx·dilation ∈ [0, width).
    @inline(__always)
    private func validColumns(_ kx: Int, width: Int, outWidth: Int) -> (first: Int, end: Int) {
        let offset = kx * dilation - padding.left
        let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let end = width - 1 - offset < 0 ? 0 : min(outWidth, (width - 1 - offset) / stride + 1)
        return (min(first, end), end)
    }

    /// Unfolds input patches into a (cin·kh·kw) × (outH·outW) matrix, zeros outside.
    /// Channels are unfolded in parallel; each row copies only the in-image span.
    private func im2col(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, into col: UnsafeMutablePointer<Float>) {
        let kh = kernel.height, kw = kernel.width
        let source = DisjointPointer(UnsafeMutablePointer(mutating: input)), target = DisjointPointer(col)
        parallelChunks(channels) { c in
            let plane = source.base + c * height * width
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let (first, end) = validColumns(kx, width: width, outWidth: outWidth)
                    let offset = kx * dilation - padding.left
                    let rowBase = target.base + ((c * kh + ky) * kw + kx) * outHeight * outWidth
                    for oy in 0..<outHeight {
                        let y = oy * stride - padding.top + ky * dilation
                        let line = rowBase + oy * outWidth
                        guard y >= 0 && y < height, first < end else {
                            line.update(repeating: 0, count: outWidth)
                            continue
                        }
                        if first > 0 { line.update(repeating: 0, count: first) }
                        if end < outWidth { (line + end).update(repeating: 0, count: outWidth - end) }
                        let sourceRow = plane + y * width + offset
                        if stride == 1 {
                            (line + first).update(from: sourceRow + first, count: end - first)
                        } else {
                            for ox in first..<end { line[ox] = sourceRow[ox * stride] }
                        }
                    }
                }
            }
        }
    }

    /// One input channel per output channel: for each kernel tap, a branch-free pass over
    /// the output columns where it lands inside the image (taps added in kernel order).
    private func depthwise(_ x: Tensor, into out: inout Tensor) {
        let kh = kernel.height, kw = kernel.width
        let outHeight = out.height, outWidth = out.width
        let inHeight = x.height, inWidth = x.width, plane = x.planeSize
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                weight.withUnsafeBufferPointer { w in
                    let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                    let target = DisjointPointer(output.baseAddress!)
                    let weights = DisjointPointer(UnsafeMutablePointer(mutating: w.baseAddress!))
                    let spans = (0..<kw).map { validColumns($0, width: inWidth, outWidth: outWidth) }
                    parallelChunks(outChannels) { c in
                        let channel = source.base + c * plane
                        let result = target.base + c * outHeight * outWidth
                        let taps = weights.base + c * kh * kw
                        for oy in 0..<outHeight {
                            let line = result + oy * outWidth
                            line.update(repeating: 0, count: outWidth)
                            for ky in 0..<kh {
                                let y = oy * stride - padding.top + ky * dilation
                                guard y >= 0 && y < inHeight else { continue }
                                for kx in 0..<kw {
                                    let (first, end) = spans[kx]
                                    let tap = taps[ky * kw + kx]
                                    let row = channel + y * inWidth + kx * dilation - padding.left
                                    if stride == 1 {
                                        for ox in first..<end { line[ox] += row[ox] * tap }
                                    } else {
                                        for ox in first..<end { line[ox] += row[ox * stride] * tap }
                                    }
                                }
                            }
                        }
                    }
                }
                epilogue(output, plane: outHeight * outWidth)
            }
        }
    }

    /// Runs `body` for 0..<count on all cores, in contiguous chunks.
    private func parallelChunks(_ count: Int, _ body: (Int) -> Void) {
        let workers = min(count, Conv2d.parallelism)
        guard workers > 1 else { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for i in (worker * count / workers)..<((worker + 1) * count / workers) { box.value(i) }
            }
        }
    }

    /// Threads for the loops outside BLAS (depthwise, im2col, activations).
    nonisolated(unsafe) public static var parallelism = 2

    /// Adds the bias and applies the activation.
    private func epilogue(_ output: UnsafeMutableBufferPointer<Float>, plane: Int) {
        for o in 0..<outChannels where bias[o] != 0 {
            let base = o * plane
            for i in 0..<plane { output[base + i] += bias[o] }
        }
        activation.applyInParallel(output)
    }
}
