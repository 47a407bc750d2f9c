/// The engine's innermost loops, compiled twice from these same files: as `EngineKernels`
/// for baseline x86-64 (SSE2) and as `EngineKernelsHaswell` (a symlink to this folder) for
/// AVX2, where eight floats are one register and three-operand instructions spare the
/// copies. The engine picks one set at run time by what the CPU supports (`KernelSet`).
///
/// Both builds run the same source. The AVX2 build fuses the multiply-adds written as
/// `VectorMath.madd` (FMA runs them at twice the rate here); the baseline build, for CPUs
/// without FMA, multiplies and adds, so its results differ in the last bits — as OpenBLAS's
/// kernels for such CPUs do anyway. All AVX2 machines compute the same bits.
public enum Kernels {
    /// values[i] = activation(values[i] + bias) for `count` values. The activations are
    /// `Activation`'s: 0 identity, 1 ReLU, 2 swish, 3 sigmoid.
    public static func activate(_ values: UnsafeMutablePointer<Float>, count: Int, bias: Float, activation: Int) {
        guard activation != 0 || bias != 0 else { return }
        withActivation(activation, bias: bias) { VectorMath.map(values, into: values, count: count, $0) }
    }

    /// target[i] = activation(source[i]) for `count` values: the same values as `activate`
    /// in place, without a copy first where the input must be kept.
    public static func activate(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int, activation: Int) {
        withActivation(activation, bias: 0) { VectorMath.map(source, into: target, count: count, $0) }
    }

    /// values[i] = activation((values[i] + bias) + residual[i]): a residual block's end, in
    /// the order of the separate passes it replaces (bias, sum, activation).
    public static func activate(
        _ values: UnsafeMutablePointer<Float>, adding residual: UnsafePointer<Float>, count: Int,
        bias: Float, activation: Int
    ) {
        let b = SIMD16<Float>(repeating: bias), hasBias = bias != 0
        withActivation(activation, bias: 0) { after in
            var i = 0
            while i + 16 <= count {
                let raw = UnsafeMutableRawPointer(values + i)
                var v = raw.loadUnaligned(as: SIMD16<Float>.self)
                if hasBias { v += b }
                v += UnsafeRawPointer(residual + i).loadUnaligned(as: SIMD16<Float>.self)
                raw.storeBytes(of: after(v), as: SIMD16<Float>.self)
                i += 16
            }
            while i < count {
                var v = values[i]
                if hasBias { v += bias }
                v += residual[i]
                values[i] = after(SIMD16(repeating: v))[0]
                i += 1
            }
        }
    }

    /// result[i] = the gradient of the activation's input from its output's `gradient`,
    /// given its input (ReLU, swish) or output (sigmoid), sixteen values at a time; each
    /// value computed as alone, so the result does not depend on how a map is cut. Swish
    /// is x·σ(x), its derivative σ(x)·(1 + x·(1 − σ(x))); the derivative of σ is σ(1 − σ).
    public static func activationBackward(
        _ gradient: UnsafePointer<Float>, input: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int,
        activation: Int, into result: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        @inline(__always) func each(_ body: (V, V, V) -> V) {
            @inline(__always) func load(_ p: UnsafePointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
            var i = 0
            while i + 16 <= count {
                UnsafeMutableRawPointer(result + i).storeBytes(of: body(load(gradient, i), load(input, i), load(output, i)), as: V.self)
                i += 16
            }
            if i < count {
                var g = V(), x = V(), y = V()
                for j in 0..<(count - i) { (g[j], x[j], y[j]) = (gradient[i + j], input[i + j], output[i + j]) }
                let tail = body(g, x, y)
                for j in 0..<(count - i) { result[i + j] = tail[j] }
            }
        }
        switch activation {
        case 0: result.update(from: gradient, count: count)
        case 1: each { g, x, _ in g.replacing(with: 0, where: .!(x .> 0)) }
        case 2:
            each { g, x, _ in
                let s = VectorMath.sigmoid(x)
                return g * (s * (1 + x * (1 - s)))
            }
        default: each { g, _, y in g * (y * (1 - y)) }
        }
    }

    /// Calls `body` with activation(x + bias) as a vector function, chosen once so that
    /// the loop in `body` is compiled for each activation.
    @inline(__always)
    static func withActivation(_ activation: Int, bias: Float, _ body: ((SIMD16<Float>) -> SIMD16<Float>) -> Void) {
        typealias V = SIMD16<Float>
        let b = V(repeating: bias)
        switch activation {
        case 0: if bias != 0 { body { $0 + b } } else { body { $0 } }
        case 1:
            body { v in
                var v = v + b
                v.replace(with: 0, where: v .< 0)
                return v
            }
        case 2: body { VectorMath.swish($0 + b) }
        default: body { VectorMath.sigmoid($0 + b) }
        }
    }

    /// One output plane of a direct convolution: for each block of eight outputs (numbered
    /// row by row, `blocks` a row, the block of row oy starting at padded + oy·rowStep +
    /// 8·column), the sum over `count` taps of taps[t] × the eight padded values at
    /// offsets[t] from the block's origin, taps added in order. Rows of whole blocks are
    /// written in place; ragged ones through a scratch plane.
    public static func accumulate(
        _ padded: UnsafeMutablePointer<Float>, taps: UnsafeMutablePointer<SIMD8<Float>>,
        offsets: UnsafeMutablePointer<Int>, count: Int, blocks: Int, rows: Int, rowStep: Int,
        width: Int, into result: UnsafeMutablePointer<Float>
    ) {
        let total = rows * blocks
        let ragged = width % 8 == 0 ? nil : UnsafeMutablePointer<Float>.allocate(capacity: total * 8)
        defer { ragged?.deallocate() }
        let plane = ragged ?? result
        @inline(__always) func origin(_ b: Int) -> UnsafeRawPointer {
            let oy = b / blocks
            return UnsafeRawPointer(padded + oy &* rowStep + (b &- oy &* blocks) &* 8)
        }
        var b = 0
        // Four blocks at once (of one row or several): independent sums hide the add latency.
        while b + 4 <= total {
            let p0 = origin(b), p1 = origin(b + 1), p2 = origin(b + 2), p3 = origin(b + 3)
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
            for t in 0..<count {
                let offset = offsets[t] &* 4, tap = taps[t]
                a0 = VectorMath.madd(p0.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), tap, a0)
                a1 = VectorMath.madd(p1.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), tap, a1)
                a2 = VectorMath.madd(p2.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), tap, a2)
                a3 = VectorMath.madd(p3.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), tap, a3)
            }
            let out = UnsafeMutableRawPointer(plane + b * 8)
            out.storeBytes(of: a0, as: SIMD8<Float>.self)
            out.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
            out.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            out.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
            b += 4
        }
        while b < total {
            let p0 = origin(b)
            var a0 = SIMD8<Float>()
            for t in 0..<count { a0 = VectorMath.madd(p0.loadUnaligned(fromByteOffset: offsets[t] &* 4, as: SIMD8<Float>.self), taps[t], a0) }
            UnsafeMutableRawPointer(plane + b * 8).storeBytes(of: a0, as: SIMD8<Float>.self)
            b += 1
        }
        if let ragged {
            for oy in 0..<rows { (result + oy * width).update(from: ragged + oy * blocks * 8, count: width) }
        }
    }

    /// Copies a channel into `rows` zero-padded rows of `stride` phases of `phaseLength`:
    /// padded column j = x + left at (j mod stride)·phaseLength + j / stride, row r = y + top.
    /// Split by phase, every tap of a strided convolution (and every column of a row of
    /// Winograd tiles) reads a contiguous run. With a stride, each row is first copied into
    /// a zero-padded line, so the split reads no column twice and tests none for the
    /// border: strides 2 and 4 split eight indices of every phase at a time.
    public static func pad(
        _ channel: UnsafePointer<Float>, height: Int, width: Int, top: Int, left: Int, stride s: Int,
        phaseLength: Int, rows: Int, into padded: UnsafeMutablePointer<Float>
    ) {
        let paddedWidth = phaseLength * s
        // The input row's columns inside the padded row.
        let lo = min(max(left, 0), paddedWidth), hi = min(max(left + width, lo), paddedWidth)
        if s == 1 {
            for r in 0..<rows {
                let line = padded + r * paddedWidth, y = r - top
                guard y >= 0 && y < height else {
                    line.update(repeating: 0, count: paddedWidth)
                    continue
                }
                line.update(repeating: 0, count: lo)
                (line + lo).update(from: channel + y * width + (lo - left), count: hi - lo)
                (line + hi).update(repeating: 0, count: paddedWidth - hi)
            }
            return
        }
        let vectorEnd = s == 2 || s == 4 ? phaseLength / 8 * 8 : 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, paddedWidth)) { buffer in
            // Columns outside [lo, hi) stay zero; every row overwrites the same ones inside.
            let staged = buffer.baseAddress!
            staged.update(repeating: 0, count: paddedWidth)
            for r in 0..<rows {
                let line = padded + r * paddedWidth, y = r - top
                guard y >= 0 && y < height else {
                    line.update(repeating: 0, count: paddedWidth)
                    continue
                }
                copy(channel + y * width + (lo - left), count: hi - lo, into: staged + lo)
                var i = 0
                while i < vectorEnd {
                    let source = UnsafeRawPointer(staged + i &* s)
                    if s == 2 {
                        let values = source.loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(line + i).storeBytes(of: values.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(line + phaseLength + i).storeBytes(of: values.oddHalf, as: SIMD8<Float>.self)
                    } else {
                        let values = source.loadUnaligned(as: SIMD32<Float>.self)
                        let even = values.evenHalf, odd = values.oddHalf
                        UnsafeMutableRawPointer(line + i).storeBytes(of: even.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(line + phaseLength + i).storeBytes(of: odd.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(line + 2 * phaseLength + i).storeBytes(of: even.oddHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(line + 3 * phaseLength + i).storeBytes(of: odd.oddHalf, as: SIMD8<Float>.self)
                    }
                    i += 8
                }
                for phase in 0..<s {
                    let part = line + phase * phaseLength
                    for i in vectorEnd..<phaseLength { part[i] = staged[i &* s &+ phase] }
                }
            }
        }
    }

    /// target[i] = source[i] for i in 0..<count: for the short rows of a strided map, read
    /// from cache, a loop costs less than a call to memmove.
    @inline(__always)
    static func copy(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(target + i).storeBytes(of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            target[i] = source[i]
            i += 1
        }
    }

    /// target[i] = source[i·2] for i in 0..<count, eight at a time (a strided im2col row).
    /// Reads no further than source[2·(count − 1)].
    public static func copyEveryOther(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        var i = 0
        // A vector of eight takes sixteen values: stop before the last one would overrun.
        while i + 8 < count {
            let values = UnsafeRawPointer(source + 2 &* i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(target + i).storeBytes(of: values.evenHalf, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { target[i] = source[2 &* i]; i += 1 }
    }
}
