import Core
import Foundation
import OpenBLAS

/// A 2-D convolution's training forward and its backward pass, for every shape the seed's
/// networks use: stride, dilation, groups (ResNeXt's 32, depthwise) and explicit padding on
/// each side (PyTorch's symmetric padding, or efficientnet_pytorch's static SAME, which
/// pads one more on the right and bottom when odd). Weights are PyTorch's
/// [out, in / groups, kh, kw]. Each image and group is one matrix product over its
/// im2col columns on one BLAS thread, and images' shares are summed in image order, so
/// results do not depend on the thread count.
public struct ConvolutionShape: Sendable, Equatable {
    public var inputChannels: Int
    public var outputChannels: Int
    public var kernel: Int
    public var stride: Int
    public var dilation: Int
    public var groups: Int
    /// Zeros added before the first row and column, and after the last.
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, dilation: Int = 1, groups: Int = 1,
        padding: Int = 0
    ) {
        self.init(
            inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, stride: stride, dilation: dilation,
            groups: groups, padTop: padding, padLeft: padding, padBottom: padding, padRight: padding)
    }

    public init(
        inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int, dilation: Int, groups: Int,
        padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    ) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "channels must divide into the groups")
        self.inputChannels = inputChannels; self.outputChannels = outputChannels; self.kernel = kernel
        self.stride = stride; self.dilation = dilation; self.groups = groups
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let span = dilation * (kernel - 1) + 1
        return ((height + padTop + padBottom - span) / stride + 1, (width + padLeft + padRight - span) / stride + 1)
    }

    var weightCount: Int { outputChannels * (inputChannels / groups) * kernel * kernel }

    /// A 1×1 convolution that reads every pixel once: the input is its own im2col.
    var isPointwise: Bool { kernel == 1 && stride == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0 }

    /// One input channel per output channel (EfficientNet's k×k convs): a direct kernel.
    var isDepthwise: Bool { groups == inputChannels && inputChannels == outputChannels && inputChannels > 1 }
}

public enum ConvolutionTraining {
    /// y = conv(x, w) + b for each image of the batch, the images spread over the engine's
    /// threads (each one matrix product per group, on one BLAS thread).
    public static func forward(_ inputs: [Tensor], weight: [Float], bias: [Float]?, shape: ConvolutionShape) -> [Tensor] {
        precondition(weight.count == shape.weightCount && (bias?.count ?? shape.outputChannels) == shape.outputChannels)
        BLAS.threadCount = 1
        var outputs = [Tensor](repeating: Tensor(channels: 0, height: 0, width: 0), count: inputs.count)
        outputs.withUnsafeMutableBufferPointer { results in
            let target = DisjointPointer(results.baseAddress!)
            Parallel.forEach(inputs.count) { b in target.base[b] = forward(inputs[b], weight: weight, bias: bias, shape: shape) }
        }
        return outputs
    }

    private static func forward(_ x: Tensor, weight: [Float], bias: [Float]?, shape: ConvolutionShape) -> Tensor {
        if shape.isDepthwise { return DepthwiseConvolution.forward(x, weight: weight, bias: bias, shape: shape) }
        let (oh, ow) = shape.outputSize(height: x.height, width: x.width)
        var y = Tensor(uninitializedChannels: shape.outputChannels, height: oh, width: ow)
        let columns = shape.isPointwise ? x.data : im2col(x, shape: shape, outputHeight: oh, outputWidth: ow)
        let (perGroupIn, perGroupOut) = (shape.inputChannels / shape.groups, shape.outputChannels / shape.groups)
        let k = perGroupIn * shape.kernel * shape.kernel, n = oh * ow
        weight.withUnsafeBufferPointer { w in
            columns.withUnsafeBufferPointer { col in
                y.data.withUnsafeMutableBufferPointer { out in
                    for g in 0..<shape.groups {
                        BLAS.sgemm(
                            m: perGroupOut, n: n, k: k, a: w.baseAddress! + g * perGroupOut * k, lda: k,
                            b: col.baseAddress! + g * k * n, ldb: n, c: out.baseAddress! + g * perGroupOut * n, ldc: n)
                    }
                    if let bias {
                        for c in 0..<shape.outputChannels {
                            let b = bias[c], row = out.baseAddress! + c * n
                            for i in 0..<n { row[i] += b }
                        }
                    }
                }
            }
        }
        return y
    }

    /// The gradients of the inputs (empty when `inputGradient` is false: the images of the
    /// first layer need none), the weight and the bias from the outputs' gradients.
    /// Each image's share is computed on its own thread into its own buffers, then the
    /// shares are summed in image order: the same bits whatever the thread count.
    public static func backward(
        _ gradients: [Tensor], inputs: [Tensor], weight: [Float], shape: ConvolutionShape,
        inputGradient: Bool = true
    ) -> (inputs: [Tensor], weight: [Float], bias: [Float]) {
        BLAS.threadCount = 1
        var shares = [(input: Tensor, weight: [Float], bias: [Double])](
            repeating: (Tensor(channels: 0, height: 0, width: 0), [], []), count: inputs.count)
        shares.withUnsafeMutableBufferPointer { results in
            let target = DisjointPointer(results.baseAddress!)
            Parallel.forEach(inputs.count) { b in
                target.base[b] = backward(gradients[b], input: inputs[b], weight: weight, shape: shape, inputGradient: inputGradient)
            }
        }
        var dWeight = [Float](repeating: 0, count: shape.weightCount)
        var dBias = [Double](repeating: 0, count: shape.outputChannels)
        for share in shares {
            for i in dWeight.indices { dWeight[i] += share.weight[i] }
            for c in dBias.indices { dBias[c] += share.bias[c] }
        }
        return (inputGradient ? shares.map(\.input) : [], dWeight, dBias.map(Float.init))
    }

    /// One image's gradients: dW = dY · colᵀ, dcol = Wᵀ · dY folded back (col2im), db = Σ dY.
    private static func backward(
        _ dy: Tensor, input x: Tensor, weight: [Float], shape: ConvolutionShape, inputGradient: Bool
    )
        -> (input: Tensor, weight: [Float], bias: [Double])
    {
        if shape.isDepthwise { return DepthwiseConvolution.backward(dy, input: x, weight: weight, shape: shape, inputGradient: inputGradient) }
        let (perGroupIn, perGroupOut) = (shape.inputChannels / shape.groups, shape.outputChannels / shape.groups)
        let k = perGroupIn * shape.kernel * shape.kernel, n = dy.height * dy.width
        let columns = shape.isPointwise ? x.data : im2col(x, shape: shape, outputHeight: dy.height, outputWidth: dy.width)
        var dColumns = [Float](unsafeUninitializedCapacity: inputGradient ? columns.count : 0) { _, count in count = inputGradient ? columns.count : 0 }
        var dWeight = [Float](unsafeUninitializedCapacity: shape.weightCount) { _, count in count = shape.weightCount }
        weight.withUnsafeBufferPointer { w in
            dy.data.withUnsafeBufferPointer { g in
                columns.withUnsafeBufferPointer { col in
                    dWeight.withUnsafeMutableBufferPointer { dw in
                        dColumns.withUnsafeMutableBufferPointer { dcol in
                            for group in 0..<shape.groups {
                                let wg = w.baseAddress! + group * perGroupOut * k, gg = g.baseAddress! + group * perGroupOut * n
                                BLAS.sgemm(
                                    transposeB: true, m: perGroupOut, n: k, k: n, a: gg, lda: n,
                                    b: col.baseAddress! + group * k * n, ldb: n, c: dw.baseAddress! + group * perGroupOut * k, ldc: k)
                                guard inputGradient else { continue }
                                BLAS.sgemm(
                                    transposeA: true, m: k, n: n, k: perGroupOut, a: wg, lda: k, b: gg, ldb: n,
                                    c: dcol.baseAddress! + group * k * n, ldc: n)
                            }
                        }
                    }
                }
            }
        }
        let dBias = Self.channelSums(dy)
        guard inputGradient else { return (Tensor(channels: 0, height: 0, width: 0), dWeight, dBias) }
        let dx =
            shape.isPointwise
            ? Tensor(channels: x.channels, height: x.height, width: x.width, data: dColumns)
            : col2im(dColumns, like: x, shape: shape, outputHeight: dy.height, outputWidth: dy.width)
        return (dx, dWeight, dBias)
    }

    /// Each channel's sum in double precision (`DoubleSum`).
    static func channelSums(_ x: Tensor) -> [Double] {
        let n = x.planeSize
        return x.data.withUnsafeBufferPointer { values in
            (0..<x.channels).map { c in
                let row = values.baseAddress! + c * n
                return DoubleSum.sum(n) { Double(row[$0]) }
            }
        }
    }

    /// The input patches as columns: rows (channel, ky, kx), columns the output pixels.
    static func im2col(_ x: Tensor, shape: ConvolutionShape, outputHeight oh: Int, outputWidth ow: Int) -> [Float] {
        var columns = [Float](repeating: 0, count: x.channels * shape.kernel * shape.kernel * oh * ow)
        x.data.withUnsafeBufferPointer { input in
            columns.withUnsafeMutableBufferPointer { output in
                forEachTapRow(channels: x.channels, height: x.height, width: x.width, shape: shape, outputHeight: oh, outputWidth: ow) {
                    column, pixel, count in
                    let from = input.baseAddress! + pixel, to = output.baseAddress! + column
                    if shape.stride == 1 { to.update(from: from, count: count) } else { for i in 0..<count { to[i] = from[i &* shape.stride] } }
                }
            }
        }
        return columns
    }

    /// The adjoint of `im2col`: each column's values summed back into the pixels they came
    /// from, in a fixed order.
    static func col2im(_ columns: [Float], like x: Tensor, shape: ConvolutionShape, outputHeight oh: Int, outputWidth ow: Int) -> Tensor {
        var out = Tensor(channels: x.channels, height: x.height, width: x.width)
        columns.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                forEachTapRow(channels: x.channels, height: x.height, width: x.width, shape: shape, outputHeight: oh, outputWidth: ow) {
                    column, pixel, count in
                    let from = input.baseAddress! + column, to = output.baseAddress! + pixel
                    for i in 0..<count { to[i &* shape.stride] += from[i] }
                }
            }
        }
        return out
    }

    /// Calls `body(column index, pixel index, count)` for every run of kernel taps along an
    /// output row that falls inside the input (padding taps are zero and skipped): columns
    /// column…column + count − 1 read pixels pixel, pixel + stride, …; in a fixed order.
    @inline(__always)
    static func forEachTapRow(
        channels: Int, height: Int, width: Int, shape: ConvolutionShape, outputHeight oh: Int,
        outputWidth ow: Int, _ body: (Int, Int, Int) -> Void
    ) {
        let kk = shape.kernel * shape.kernel
        for ky in 0..<shape.kernel {
            for kx in 0..<shape.kernel {
                // Output columns whose input column lies inside: ox·stride − padLeft + kx·dilation ∈ [0, width).
                let offset = kx * shape.dilation - shape.padLeft
                let first = offset >= 0 ? 0 : (-offset + shape.stride - 1) / shape.stride
                let last = min(ow - 1, (width - 1 - offset) >= 0 ? (width - 1 - offset) / shape.stride : -1)
                guard last >= first else { continue }
                for c in 0..<channels {
                    let row = (c * kk + ky * shape.kernel + kx) * oh * ow
                    for oy in 0..<oh {
                        let iy = oy * shape.stride - shape.padTop + ky * shape.dilation
                        guard iy >= 0 && iy < height else { continue }
                        body(row + oy * ow + first, (c * height + iy) * width + first * shape.stride + offset, last - first + 1)
                    }
                }
            }
        }
    }
}
