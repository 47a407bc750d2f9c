/// The product of a layer's weights and its input, C = W·X (W: M × K, X: K × N row-major:
/// a 1×1 layer's map, an im2col block or a Winograd position's tiles), with W packed once
/// rather than by every call, as a BLAS must; the caller gets each chunk of outputs back
/// while it is in cache, for bias and activation. (Deep in EfficientNet N is small, and OpenBLAS spent a
/// tenth of its time packing and another 3 % zeroing outputs it then overwrote.)
///
/// Every output is one chain of fused multiply-adds over k in order, from zero, so its bits
/// depend neither on how the product is cut into tasks and blocks nor on the build's
/// register width: the AVX2 and AVX-512 builds give the same maps. The baseline build has
/// no fused multiply-add; the engine runs OpenBLAS there instead.
public enum PointwiseGEMM {
    /// Rows of W to a block of the packed weights, in every build: each block is k-major
    /// with its rows side by side, rows past M zeros.
    public static let rowsPerBlock = 12

    #if TESSERA_AVX512
    /// Half a kernel's row of outputs: one AVX-512 register.
    typealias Half = SIMD16<Float>
    /// Its lanes (a constant: `scalarCount` would call a generic shared by every build).
    static let halfWidth = 16
    /// Rows the kernel computes at once: 12 × 2 accumulators, of 32 registers.
    static let kernelRows = 12
    #else
    /// Half a kernel's row of outputs: one AVX2 register.
    typealias Half = SIMD8<Float>
    /// Its lanes (a constant: `scalarCount` would call a generic shared by every build).
    static let halfWidth = 8
    /// Rows the kernel computes at once: 6 × 2 accumulators, of 16 registers.
    static let kernelRows = 6
    #endif

    /// Output columns the kernel computes at once.
    static var columnsPerBlock: Int { 2 * halfWidth }

    /// Depth multiplied at a time: a panel's slice of 16 KB stays in L1 while the rows go
    /// by. Later slices continue each output's chain from where the stored sum left it, so
    /// the cut changes no bit.
    static var sliceDepth: Int { 4096 / columnsPerBlock }

    /// Columns multiplied at a time: their packed input stays within about 256 KB.
    static func groupWidth(depth k: Int) -> Int {
        let n = columnsPerBlock
        return max(n, min(256, (1 << 16) / max(1, k) / n * n))
    }

    /// The floats `multiply` needs as scratch for depth k.
    public static func scratchCount(depth k: Int) -> Int { groupWidth(depth: k) * k + kernelRows * columnsPerBlock }

    /// c[row][j] = Σₖ W[row][k] · x[k][j] for rows `rows` of the packed W (starting on a
    /// block) and `columns` columns of x (row stride `ldx`), written to c (row stride
    /// `ldc`; c points at the first row's first column). Columns go in groups of up to 256,
    /// first copied into k-major panels of `columnsPerBlock` (zero-padded); rows in chunks
    /// whose weights and outputs stay in cache. `finished(rows, columns)` (ranges relative
    /// to c) runs on each chunk of outputs as soon as it is complete. Depth goes in slices
    /// of `sliceDepth`.
    public static func multiply(
        packed: UnsafePointer<Float>, depth k: Int, rows: Range<Int>, x: UnsafePointer<Float>, ldx: Int,
        columns: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutablePointer<Float>,
        finished: (Range<Int>, Range<Int>) -> Void
    ) {
        precondition(rows.lowerBound % rowsPerBlock == 0, "rows start on a block of the packed weights")
        if rows.count <= thinRows {
            multiplyThin(
                packed: packed + rows.lowerBound * k, depth: k, rows: rows.count, x: x, ldx: ldx, columns: columns, into: c,
                ldc: ldc, finished: finished)
            return
        }
        let r = kernelRows, n = columnsPerBlock, group = groupWidth(depth: k)
        let edge = scratch + group * k
        // About 128 KB of a slice's weights and 256 KB of outputs at a time, in whole blocks.
        let slice = sliceDepth
        let chunk = max(1, min((1 << 15) / (min(k, slice) * rowsPerBlock), (1 << 16) / (group * rowsPerBlock))) * rowsPerBlock
        var firstColumn = 0
        while firstColumn < columns {
            let width = min(group, columns - firstColumn), panels = (width + n - 1) / n
            for panel in 0..<panels {
                packPanel(
                    x + firstColumn + panel * n, ldx: ldx, depth: k, columns: min(n, width - panel * n),
                    into: scratch + panel * n * k)
            }
            var first = rows.lowerBound
            while first < rows.upperBound {
                let end = min(rows.upperBound, first + chunk)
                for depthStart in stride(from: 0, to: k, by: slice) {
                    let depth = min(slice, k - depthStart), continues = depthStart > 0
                    var row = first
                    while row < end {
                        for panel in 0..<panels {
                            let panelWidth = min(n, width - panel * n), input = scratch + panel * n * k + depthStart * n
                            let output = c + (row - rows.lowerBound) * ldc + firstColumn + panel * n
                            let height = min(r, end - row)
                            // Row `row`'s place in its block of the packed weights, at this slice.
                            let weights = packed + (row / rowsPerBlock * k + depthStart) * rowsPerBlock + row % rowsPerBlock
                            if panelWidth == n {
                                anyBlock(weights, input, depth: depth, into: output, ldc: ldc, rows: height, continuing: continues)
                            } else {
                                for i in 0..<height where continues { (edge + i * n).update(from: output + i * ldc, count: panelWidth) }
                                anyBlock(weights, input, depth: depth, into: edge, ldc: n, rows: height, continuing: continues)
                                for i in 0..<height { (output + i * ldc).update(from: edge + i * n, count: panelWidth) }
                            }
                        }
                        row += r
                    }
                }
                finished((first - rows.lowerBound)..<(end - rows.lowerBound), firstColumn..<(firstColumn + width))
                first = end
            }
            firstColumn += width
        }
    }

    /// Rows few enough that the input is read as it lies rather than copied into panels
    /// first: a head's single output channel (EffUnet's 96→1 at 256²) spent as long
    /// copying its input as multiplying it.
    static let thinRows = 2

    /// `rows` (≤ thinRows) rows of one block of the packed weights times x, row by row
    /// of x into the outputs, 1024 columns at a time: each output's chain is the same as
    /// in the kernels (zero, then one fused multiply-add per k in order).
    static func multiplyThin(
        packed: UnsafePointer<Float>, depth k: Int, rows: Int, x: UnsafePointer<Float>, ldx: Int, columns: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int, finished: (Range<Int>, Range<Int>) -> Void
    ) {
        typealias V = Half
        let chunk = 1024, lanes = halfWidth
        for first in stride(from: 0, to: columns, by: chunk) {
            let width = min(chunk, columns - first)
            for row in 0..<rows { (c + row * ldc + first).initialize(repeating: 0, count: width) }
            for depth in 0..<k {
                let source = x + depth * ldx + first
                for row in 0..<rows {
                    let weight = packed[depth * rowsPerBlock + row], w = V(repeating: weight)
                    let target = c + row * ldc + first
                    var j = 0
                    while j + lanes <= width {
                        var sum = UnsafeRawPointer(target + j).loadUnaligned(as: V.self)
                        sum.addProduct(w, UnsafeRawPointer(source + j).loadUnaligned(as: V.self))
                        UnsafeMutableRawPointer(target + j).storeBytes(of: sum, as: V.self)
                        j += lanes
                    }
                    while j < width {
                        target[j] = target[j].addingProduct(weight, source[j])
                        j += 1
                    }
                }
            }
            finished(0..<rows, first..<(first + width))
        }
    }

    /// Copies `columns` (≤ columnsPerBlock) columns of k rows into a k-major panel.
    @inline(__always)
    static func packPanel(_ x: UnsafePointer<Float>, ldx: Int, depth k: Int, columns: Int, into panel: UnsafeMutablePointer<Float>) {
        let n = columnsPerBlock, half = halfWidth
        if columns == n {
            for i in 0..<k {
                let source = x + i * ldx, target = panel + i * n
                UnsafeMutableRawPointer(target).storeBytes(of: UnsafeRawPointer(source).loadUnaligned(as: Half.self), as: Half.self)
                UnsafeMutableRawPointer(target + half).storeBytes(
                    of: UnsafeRawPointer(source + half).loadUnaligned(as: Half.self), as: Half.self)
            }
        } else {
            for i in 0..<k {
                for j in 0..<n { panel[i * n + j] = j < columns ? x[i * ldx + j] : 0 }
            }
        }
    }

    /// Loads row `row` of a kernel's outputs (two vectors side by side) if it is one of
    /// the first `rows`.
    @inline(__always)
    static func load(_ a: inout Half, _ b: inout Half, _ c: UnsafeMutablePointer<Float>, _ row: Int, _ rows: Int, _ ldc: Int) {
        guard row < rows else { return }
        a = UnsafeRawPointer(c + row * ldc).loadUnaligned(as: Half.self)
        b = UnsafeRawPointer(c + row * ldc + halfWidth).loadUnaligned(as: Half.self)
    }

    /// Stores row `row` of a kernel's outputs if it is one of the first `rows`: rows past
    /// the weights' last are not the caller's.
    @inline(__always)
    static func store(_ a: Half, _ b: Half, _ c: UnsafeMutablePointer<Float>, _ row: Int, _ rows: Int, _ ldc: Int) {
        guard row < rows else { return }
        UnsafeMutableRawPointer(c + row * ldc).storeBytes(of: a, as: Half.self)
        UnsafeMutableRawPointer(c + row * ldc + halfWidth).storeBytes(of: b, as: Half.self)
    }

    /// The kernel for `rows` rows: the last rows of a layer whose output channels are no
    /// multiple of kernelRows (EfficientNet's 40, 64, 112, a decoder's 32) take a narrower
    /// one rather than computing a full kernel's rows and dropping the rest. Each output's
    /// chain is the same in all of them.
    @inline(__always)
    static func anyBlock(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool
    ) {
        if rows <= 4 {
            block4(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing)
            return
        }
        #if TESSERA_AVX512
        if rows <= 8 {
            block8(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing)
            return
        }
        #endif
        block(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing)
    }

    /// Up to 4 rows × columnsPerBlock columns, as `block`.
    @inline(__always)
    static func block4(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool
    ) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V()
        if continuing {
            load(&a0, &b0, c, 0, rows, ldc); load(&a1, &b1, c, 1, rows, ldc); load(&a2, &b2, c, 2, rows, ldc)
            load(&a3, &b3, c, 3, rows, ldc)
        }
        var w = w, x = x
        for _ in 0..<depth {
            let u = UnsafeRawPointer(x).loadUnaligned(as: V.self), v = UnsafeRawPointer(x + halfWidth).loadUnaligned(as: V.self)
            var s = V(repeating: w[0]); a0.addProduct(s, u); b0.addProduct(s, v)
            s = V(repeating: w[1]); a1.addProduct(s, u); b1.addProduct(s, v)
            s = V(repeating: w[2]); a2.addProduct(s, u); b2.addProduct(s, v)
            s = V(repeating: w[3]); a3.addProduct(s, u); b3.addProduct(s, v)
            w += rowsPerBlock
            x += 2 * halfWidth
        }
        store(a0, b0, c, 0, rows, ldc); store(a1, b1, c, 1, rows, ldc); store(a2, b2, c, 2, rows, ldc)
        store(a3, b3, c, 3, rows, ldc)
    }

    #if TESSERA_AVX512
    /// Up to 8 rows × columnsPerBlock columns, as `block`.
    @inline(__always)
    static func block8(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool
    ) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V()
        if continuing {
            load(&a0, &b0, c, 0, rows, ldc); load(&a1, &b1, c, 1, rows, ldc); load(&a2, &b2, c, 2, rows, ldc)
            load(&a3, &b3, c, 3, rows, ldc); load(&a4, &b4, c, 4, rows, ldc); load(&a5, &b5, c, 5, rows, ldc)
            load(&a6, &b6, c, 6, rows, ldc); load(&a7, &b7, c, 7, rows, ldc)
        }
        var w = w, x = x
        for _ in 0..<depth {
            let u = UnsafeRawPointer(x).loadUnaligned(as: V.self), v = UnsafeRawPointer(x + 16).loadUnaligned(as: V.self)
            var s = V(repeating: w[0]); a0.addProduct(s, u); b0.addProduct(s, v)
            s = V(repeating: w[1]); a1.addProduct(s, u); b1.addProduct(s, v)
            s = V(repeating: w[2]); a2.addProduct(s, u); b2.addProduct(s, v)
            s = V(repeating: w[3]); a3.addProduct(s, u); b3.addProduct(s, v)
            s = V(repeating: w[4]); a4.addProduct(s, u); b4.addProduct(s, v)
            s = V(repeating: w[5]); a5.addProduct(s, u); b5.addProduct(s, v)
            s = V(repeating: w[6]); a6.addProduct(s, u); b6.addProduct(s, v)
            s = V(repeating: w[7]); a7.addProduct(s, u); b7.addProduct(s, v)
            w += rowsPerBlock
            x += 32
        }
        store(a0, b0, c, 0, rows, ldc); store(a1, b1, c, 1, rows, ldc); store(a2, b2, c, 2, rows, ldc)
        store(a3, b3, c, 3, rows, ldc); store(a4, b4, c, 4, rows, ldc); store(a5, b5, c, 5, rows, ldc)
        store(a6, b6, c, 6, rows, ldc); store(a7, b7, c, 7, rows, ldc)
    }

    /// kernelRows rows × columnsPerBlock columns, in registers over `depth` (w steps by
    /// rowsPerBlock from one k to the next), from zero or `continuing` the sums in c; only the first
    /// `rows` are read and written.
    @inline(__always)
    static func block(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool
    ) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V(), a8 = V(), a9 = V(), a10 = V(), a11 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V(), b8 = V(), b9 = V(), b10 = V(), b11 = V()
        if continuing {
            load(&a0, &b0, c, 0, rows, ldc); load(&a1, &b1, c, 1, rows, ldc); load(&a2, &b2, c, 2, rows, ldc)
            load(&a3, &b3, c, 3, rows, ldc); load(&a4, &b4, c, 4, rows, ldc); load(&a5, &b5, c, 5, rows, ldc)
            load(&a6, &b6, c, 6, rows, ldc); load(&a7, &b7, c, 7, rows, ldc); load(&a8, &b8, c, 8, rows, ldc)
            load(&a9, &b9, c, 9, rows, ldc); load(&a10, &b10, c, 10, rows, ldc); load(&a11, &b11, c, 11, rows, ldc)
        }
        var w = w, x = x
        for _ in 0..<depth {
            let u = UnsafeRawPointer(x).loadUnaligned(as: V.self), v = UnsafeRawPointer(x + 16).loadUnaligned(as: V.self)
            var s = V(repeating: w[0]); a0.addProduct(s, u); b0.addProduct(s, v)
            s = V(repeating: w[1]); a1.addProduct(s, u); b1.addProduct(s, v)
            s = V(repeating: w[2]); a2.addProduct(s, u); b2.addProduct(s, v)
            s = V(repeating: w[3]); a3.addProduct(s, u); b3.addProduct(s, v)
            s = V(repeating: w[4]); a4.addProduct(s, u); b4.addProduct(s, v)
            s = V(repeating: w[5]); a5.addProduct(s, u); b5.addProduct(s, v)
            s = V(repeating: w[6]); a6.addProduct(s, u); b6.addProduct(s, v)
            s = V(repeating: w[7]); a7.addProduct(s, u); b7.addProduct(s, v)
            s = V(repeating: w[8]); a8.addProduct(s, u); b8.addProduct(s, v)
            s = V(repeating: w[9]); a9.addProduct(s, u); b9.addProduct(s, v)
            s = V(repeating: w[10]); a10.addProduct(s, u); b10.addProduct(s, v)
            s = V(repeating: w[11]); a11.addProduct(s, u); b11.addProduct(s, v)
            w += rowsPerBlock
            x += 32
        }
        store(a0, b0, c, 0, rows, ldc); store(a1, b1, c, 1, rows, ldc); store(a2, b2, c, 2, rows, ldc)
        store(a3, b3, c, 3, rows, ldc); store(a4, b4, c, 4, rows, ldc); store(a5, b5, c, 5, rows, ldc)
        store(a6, b6, c, 6, rows, ldc); store(a7, b7, c, 7, rows, ldc); store(a8, b8, c, 8, rows, ldc)
        store(a9, b9, c, 9, rows, ldc); store(a10, b10, c, 10, rows, ldc); store(a11, b11, c, 11, rows, ldc)
    }
    #else
    /// kernelRows rows × columnsPerBlock columns, in registers over `depth` (w steps by
    /// rowsPerBlock from one k to the next), from zero or `continuing` the sums in c; only the first
    /// `rows` are read and written.
    @inline(__always)
    static func block(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool
    ) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V()
        if continuing {
            load(&a0, &b0, c, 0, rows, ldc); load(&a1, &b1, c, 1, rows, ldc); load(&a2, &b2, c, 2, rows, ldc)
            load(&a3, &b3, c, 3, rows, ldc); load(&a4, &b4, c, 4, rows, ldc); load(&a5, &b5, c, 5, rows, ldc)
        }
        var w = w, x = x
        for _ in 0..<depth {
            let u = UnsafeRawPointer(x).loadUnaligned(as: V.self), v = UnsafeRawPointer(x + 8).loadUnaligned(as: V.self)
            var s = V(repeating: w[0]); a0.addProduct(s, u); b0.addProduct(s, v)
            s = V(repeating: w[1]); a1.addProduct(s, u); b1.addProduct(s, v)
            s = V(repeating: w[2]); a2.addProduct(s, u); b2.addProduct(s, v)
            s = V(repeating: w[3]); a3.addProduct(s, u); b3.addProduct(s, v)
            s = V(repeating: w[4]); a4.addProduct(s, u); b4.addProduct(s, v)
            s = V(repeating: w[5]); a5.addProduct(s, u); b5.addProduct(s, v)
            w += rowsPerBlock
            x += 16
        }
        store(a0, b0, c, 0, rows, ldc); store(a1, b1, c, 1, rows, ldc); store(a2, b2, c, 2, rows, ldc)
        store(a3, b3, c, 3, rows, ldc); store(a4, b4, c, 4, rows, ldc); store(a5, b5, c, 5, rows, ldc)
    }
    #endif
}
