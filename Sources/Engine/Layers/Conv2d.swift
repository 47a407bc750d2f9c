import Core
import EngineKernels
import OpenBLAS

/// A 2-D convolution as PyTorch's `nn.Conv2d` computes it (cross-correlation), with groups,
/// dilation, stride and padding that may differ on each side (TensorFlow "SAME" pads one
/// more pixel at the bottom and right than at the top and left).
///
/// Weights are [out, in / groups, kh, kw], as in a PyTorch state_dict. Ordinary and grouped
/// convolutions run as im2col + GEMM per group (1×1 ones on the input itself), 3×3 ones by
/// Winograd. The GEMM is the engine's own on weights packed once (`PointwiseGEMM`) where
/// the CPU has FMA and there are no groups, OpenBLAS's sgemm otherwise; depthwise
/// ones and groups of few channels run a direct kernel, where GEMM would be all overhead. A folded batch
/// norm and an activation are applied to each block of output as soon as it is computed.
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
    public var weight: [Float] {
        get { plainWeight ?? packedWeight!.unpacked }
        set {
            plainWeight = newValue
            packedWeight = nil
            winogradCache = [:]
        }
    }
    /// The weights as a state_dict holds them, unless packed.
    private var plainWeight: [Float]?
    /// A GEMM layer's weights once packed for `PointwiseGEMM`, in place of the plain ones
    /// (each takes as much memory).
    private var packedWeight: PackedWeights?
    /// The Winograd-transformed filters for each tile size used (packed for `PointwiseGEMM`
    /// or not), made on first use.
    private var winogradCache: [WinogradFilters: [Float]] = [:]
    /// One per output channel (zeros when the layer has none).
    public var bias: [Float]
    public var activation: Activation
    /// Whether a 3×3 layer may run by Winograd (tests turn it off to compare).
    public var allowsWinograd = true

    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .uniform(0),
        dilation: Int = 1, groups: Int = 1, activation: Activation = .identity
    ) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels must divide into groups")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel, kernel)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.activation = activation
        plainWeight = [Float](repeating: 0, count: outChannels * (inChannels / groups) * kernel * kernel)
        bias = [Float](repeating: 0, count: outChannels)
    }

    /// A 1×1 conv with a stride and no padding (ResNet downsampling): the input is
    /// subsampled once and multiplied as it is, rather than unfolded block by block.
    var isStridedPointwise: Bool {
        kernel.height == 1 && kernel.width == 1 && stride > 1 && padding == .uniform(0) && groups == 1
    }

    /// A layer that multiplies its input (1×1) or its unfolded patches (im2col), group by
    /// group, by the engine's own GEMM (`PointwiseGEMM`, on CPUs with FMA): its weights
    /// are packed once, and bias and activation applied to each block of outputs as it is
    /// finished.
    var usesPackedGEMM: Bool { !usesDirectKernel && !usesWinograd && KernelSet.hasPointwiseGEMM }

    /// The packed weights, packed on first use.
    private func packedWeights() -> PackedWeights {
        if let packedWeight { return packedWeight }
        let packed = PackedWeights(weight, rows: outChannels, depth: inChannels / groups * kernel.height * kernel.width, groups: groups)
        packedWeight = packed
        plainWeight = nil
        return packed
    }

    /// One input channel per output channel (EfficientNet's k×k convs): a direct kernel
    /// rather than GEMM.
    public var isDepthwise: Bool { groups == inChannels && inChannels == outChannels }

    /// The shape a PyTorch state_dict gives the weight.
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernel.height, kernel.width] }

    /// Folds a following batch norm into the weights and bias: conv(x)·s + t.
    public func fold(_ norm: BatchNorm) {
        let (scale, shift) = norm.scaleAndShift
        let perOutput = weight.count / outChannels
        var folded = weight, foldedBias = bias
        for o in 0..<outChannels {
            for i in 0..<perOutput { folded[o * perOutput + i] *= scale[o] }
            foldedBias[o] = foldedBias[o] * scale[o] + shift[o]
        }
        weight = folded
        bias = foldedBias
    }

    /// Output size for an input size along one axis.
    public func outputSize(_ input: Int, kernel k: Int, before: Int, after: Int) -> Int {
        (input + before + after - dilation * (k - 1) - 1) / stride + 1
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { run(x, inputScale: nil, residual: nil) }

    /// The convolution of x with each input channel c scaled by `inputScale[c]` (a
    /// squeeze-excitation gate), without a pass over x: the scales go into a copy of the
    /// weights when that is smaller than the map, into a copy of x otherwise.
    public func callAsFunction(_ x: Tensor, inputScale: [Float]) -> Tensor { run(x, inputScale: inputScale, residual: nil) }

    /// after(conv(x) + residual): the end of a residual block (ResNeXt's bottleneck, an
    /// MBConv with a skip). Where the convolution runs as GEMM, the skip is added and `after`
    /// applied to each block of output while it is still in cache, instead of in two more
    /// passes over the map. The layer's own activation must be the identity.
    public func callAsFunction(_ x: Tensor, inputScale: [Float]? = nil, adding residual: Tensor, then after: Activation) -> Tensor {
        precondition(activation == .identity, "a residual is added after a linear convolution")
        return run(x, inputScale: inputScale, residual: (residual, after))
    }

    private func run(_ x: Tensor, inputScale: [Float]?, residual: (map: Tensor, after: Activation)?) -> Tensor {
        let packed = usesPackedGEMM
        if !packed, plainWeight == nil {
            // Packed by another build (tests switch builds).
            plainWeight = packedWeight!.unpacked
            packedWeight = nil
        }
        var scaledWeights: [Float]?
        if let inputScale {
            precondition(groups == 1 && inputScale.count == inChannels)
            let taps = kernel.height * kernel.width
            guard outChannels * taps < x.planeSize else {
                var scaled = x
                scaled.scaleChannels(by: inputScale)
                return run(scaled, inputScale: nil, residual: residual)
            }
            if packed {
                let scale = taps == 1 ? inputScale : inputScale.flatMap { repeatElement($0, count: taps) }
                return run(x, packedWeights: packedWeights().scaled(by: scale), residual: residual)
            }
            scaledWeights = GateScaling.scaled(weight, by: inputScale, run: taps)
        }
        if packed { return run(x, packedWeights: packedWeights(), residual: residual) }
        var out = output(for: x)
        if let residual {
            precondition(
                residual.map.channels == out.channels && residual.map.height == out.height && residual.map.width == out.width,
                "the residual must have the output's shape")
        }
        var residualAdded = false
        measure(height: out.height, width: out.width) {
            if let scaledWeights {
                scaledWeights.withUnsafeBufferPointer { gemm(x, weights: $0.baseAddress!, into: &out, residual: residual) }
                residualAdded = true
            } else if usesDirectKernel {
                direct(x, into: &out, channelMeans: nil)
            } else if isStridedPointwise {
                let sampled = x.subsampled(stride: stride, height: out.height, width: out.width)
                weight.withUnsafeBufferPointer { gemm(sampled, weights: $0.baseAddress!, into: &out, sampled: true, residual: residual) }
                residualAdded = true
            } else if usesWinograd {
                let tile = Self.winogradTile(height: out.height, width: out.width)
                let filters = WinogradFilters(tile: tile, packed: KernelSet.hasPointwiseGEMM)
                if winogradCache[filters] == nil { winogradCache[filters] = winogradFilters(filters) }
                winogradCache[filters]!.withUnsafeBufferPointer { winograd(x, filters: filters, values: $0.baseAddress!, into: &out) }
            } else {
                weight.withUnsafeBufferPointer { gemm(x, weights: $0.baseAddress!, into: &out, residual: residual) }
                residualAdded = true
            }
        }
        if let residual, !residualAdded {
            out += residual.map
            residual.after.apply(&out)
        }
        return out
    }

    /// A layer by `PointwiseGEMM` with `packedWeights` (scaled by a gate or not).
    private func run(_ x: Tensor, packedWeights: PackedWeights, residual: (map: Tensor, after: Activation)?) -> Tensor {
        var out = output(for: x)
        if let residual {
            precondition(
                residual.map.channels == out.channels && residual.map.height == out.height && residual.map.width == out.width,
                "the residual must have the output's shape")
        }
        measure(height: out.height, width: out.width) {
            let sampled = isStridedPointwise
            let input = sampled ? x.subsampled(stride: stride, height: out.height, width: out.width) : x
            packedWeights.values.withUnsafeBufferPointer {
                gemm(input, weights: $0.baseAddress!, packed: true, into: &out, sampled: sampled, residual: residual)
            }
        }
        return out
    }

    /// The (uninitialised) output map for input x.
    func output(for x: Tensor) -> Tensor {
        precondition(x.channels == inChannels, "expected \(inChannels) channels, got \(x.channels)")
        return Tensor(
            uninitializedChannels: outChannels,
            height: outputSize(x.height, kernel: kernel.height, before: padding.top, after: padding.bottom),
            width: outputSize(x.width, kernel: kernel.width, before: padding.left, after: padding.right))
    }

    /// Runs `body` under `LayerProfile`, labelled with this layer's shape and output size.
    /// (It takes the size, not the output: a second reference to the output's storage
    /// would make every write to it copy the whole map.)
    func measure(height: Int, width: Int, _ body: () -> Void) {
        let macs = outChannels * height * width * (inChannels / groups) * kernel.height * kernel.width
        LayerProfile.measure(label(height: height, width: width), multiplyAdds: macs, body)
    }

    /// "3×3/2 g32 256→256 @64×64 relu": kernel, stride, groups, channels, output size.
    func label(height: Int, width: Int) -> String {
        let kind = isDepthwise ? " dw" : groups > 1 ? " g\(groups)" : ""
        let dilated = dilation > 1 ? " d\(dilation)" : ""
        return "\(kernel.height)×\(kernel.width)/\(stride)\(dilated)\(kind) \(inChannels)→\(outChannels) @\(height)×\(width) \(activation)"
    }

    /// im2col + sgemm, cut into tasks of whole groups × blocks of output pixels (or of
    /// output channels when the map is small). Each task unfolds only its own pixels into a
    /// scratch block, multiplies single-threaded, then adds the bias and applies the
    /// activation (or adds the bias and the residual and applies the residual's activation)
    /// while its block is still in cache.
    private func gemm(
        _ x: Tensor, weights w: UnsafePointer<Float>, packed: Bool = false, into out: inout Tensor, sampled: Bool = false,
        residual: (map: Tensor, after: Activation)? = nil
    ) {
        let cin = inChannels / groups, cout = outChannels / groups
        let k = cin * kernel.height * kernel.width, n = out.planeSize
        // A 1×1 stride-1 conv multiplies the input itself, as does a strided one whose input
        // was `sampled` first.
        let pointwise = sampled || kernel.height == 1 && kernel.width == 1 && stride == 1 && padding == .uniform(0)
        let split =
            packed
            ? GEMMSplit.packed(rows: cout, columns: n, depth: k, groups: groups)
            : GEMMSplit(rows: cout, columns: n, depth: k, groups: groups)
        let inputPlane = x.planeSize, inHeight = x.height, inWidth = x.width, outWidth = out.width
        let skip = residual?.map.data ?? []
        x.data.withUnsafeBufferPointer { input in
            skip.withUnsafeBufferPointer { skip in
                out.data.withUnsafeMutableBufferPointer { output in
                    bias.withUnsafeBufferPointer { bias in
                        let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                        // The skip connection and the activation after it, when the block ends here.
                        let skipped = residual.map { (map: DisjointPointer(UnsafeMutablePointer(mutating: skip.baseAddress!)), after: $0.after) }
                        let target = DisjointPointer(output.baseAddress!)
                        let weights = DisjointPointer(UnsafeMutablePointer(mutating: w))
                        let biases = DisjointPointer(UnsafeMutablePointer(mutating: bias.baseAddress!))
                        Parallel.forEach(split.count) { task in
                            let (group, rows, columns) = split.task(task)
                            let groupInput = source.base + group * cin * inputPlane
                            let firstRow = group * cout + rows.lowerBound
                            let c = target.base + firstRow * n + columns.lowerBound
                            /// Bias and activation (or bias, skip and the skip's activation) on
                            /// `count` outputs of the task's `row` from its column `from` on.
                            func finish(row: Int, from: Int, count: Int) {
                                let values = c + row * n + from, rowBias = biases.base[firstRow + row]
                                if let skipped {
                                    KernelSet.activate(
                                        values, adding: skipped.map.base + (firstRow + row) * n + columns.lowerBound + from,
                                        count: count, bias: rowBias, activation: skipped.after.kernelCode)
                                } else {
                                    activation.apply(values, count: count, bias: rowBias)
                                }
                            }
                            if packed {
                                // The input itself (1×1) or its patches unfolded after the GEMM's scratch.
                                let gemmScratch = KernelSet.pointwiseScratchCount(depth: k)
                                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: gemmScratch + (pointwise ? 0 : k * columns.count))
                                defer { scratch.deallocate() }
                                var x = groupInput + columns.lowerBound, ldx = n
                                if !pointwise {
                                    im2col(
                                        groupInput, channels: cin, height: inHeight, width: inWidth, outWidth: outWidth,
                                        columns: columns, into: scratch + gemmScratch)
                                    (x, ldx) = (UnsafeMutablePointer(scratch + gemmScratch), columns.count)
                                }
                                KernelSet.multiplyPointwise(
                                    packed: weights.base + group * PackedWeights.count(rows: cout, depth: k), depth: k, rows: rows,
                                    x: x, ldx: ldx, columns: columns.count, into: c, ldc: n, scratch: scratch
                                ) { rows, columns in
                                    for row in rows { finish(row: row, from: columns.lowerBound, count: columns.count) }
                                }
                                return
                            }
                            if pointwise {
                                BLAS.sgemm(
                                    m: rows.count, n: columns.count, k: k, a: weights.base + firstRow * k, lda: k,
                                    b: groupInput + columns.lowerBound, ldb: n, c: c, ldc: n)
                            } else {
                                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: k * columns.count)
                                defer { scratch.deallocate() }
                                im2col(
                                    groupInput, channels: cin, height: inHeight, width: inWidth, outWidth: outWidth,
                                    columns: columns, into: scratch)
                                BLAS.sgemm(
                                    m: rows.count, n: columns.count, k: k, a: weights.base + firstRow * k, lda: k,
                                    b: scratch, ldb: columns.count, c: c, ldc: n)
                            }
                            for row in 0..<rows.count { finish(row: row, from: 0, count: columns.count) }
                        }
                    }
                }
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

    /// Unfolds the input patches of output pixels `columns` (row-major indices into the
    /// output plane) into a (channels·kh·kw) × columns.count matrix, zeros outside the image.
    private func im2col(
        _ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, outWidth: Int,
        columns: Range<Int>, into col: UnsafeMutablePointer<Float>
    ) {
        let kh = kernel.height, kw = kernel.width, count = columns.count
        let firstRow = columns.lowerBound / outWidth, lastRow = (columns.upperBound - 1) / outWidth
        for c in 0..<channels {
            let plane = input + c * height * width
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let (first, end) = validColumns(kx, width: width, outWidth: outWidth)
                    let offset = kx * dilation - padding.left
                    let line = col + ((c * kh + ky) * kw + kx) * count - columns.lowerBound
                    for oy in firstRow...lastRow {
                        // This output row's part of the block: [lo, hi) within the row.
                        let rowStart = oy * outWidth
                        let lo = max(columns.lowerBound - rowStart, 0), hi = min(columns.upperBound - rowStart, outWidth)
                        let target = line + rowStart
                        let y = oy * stride - padding.top + ky * dilation
                        let validLo = max(lo, first), validHi = min(hi, end)
                        guard y >= 0 && y < height, validLo < validHi else {
                            (target + lo).update(repeating: 0, count: hi - lo)
                            continue
                        }
                        if validLo > lo { (target + lo).update(repeating: 0, count: validLo - lo) }
                        if validHi < hi { (target + validHi).update(repeating: 0, count: hi - validHi) }
                        let sourceRow = plane + y * width + offset
                        if stride == 1 {
                            (target + validLo).update(from: sourceRow + validLo, count: validHi - validLo)
                        } else if stride == 2 {
                            KernelSet.copyEveryOther(sourceRow + 2 * validLo, count: validHi - validLo, into: target + validLo)
                        } else {
                            for ox in validLo..<validHi { target[ox] = sourceRow[ox * stride] }
                        }
                    }
                }
            }
        }
    }
}
