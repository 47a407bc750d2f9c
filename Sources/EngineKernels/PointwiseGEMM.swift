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

    /// Two rows of a kernel's sums, two vectors a row: the unit every kernel is made of,
    /// so each keeps its sums in named registers (an array or a generic would spill them, or
    /// leave weak copies shared by the builds) without writing the multiply-adds out again.
    struct RowPair {
        var a0 = Half(), b0 = Half(), a1 = Half(), b1 = Half()

        /// Loads rows `row` and `row + 1` of c, those of them among the first `rows`.
        @inline(__always)
        mutating func load(_ c: UnsafeMutablePointer<Float>, _ row: Int, _ rows: Int, _ ldc: Int) {
            if row < rows {
                a0 = UnsafeRawPointer(c + row * ldc).loadUnaligned(as: Half.self)
                b0 = UnsafeRawPointer(c + row * ldc + halfWidth).loadUnaligned(as: Half.self)
            }
            if row + 1 < rows {
                a1 = UnsafeRawPointer(c + (row + 1) * ldc).loadUnaligned(as: Half.self)
                b1 = UnsafeRawPointer(c + (row + 1) * ldc + halfWidth).loadUnaligned(as: Half.self)
            }
        }

        /// Adds w[0]·(u, v) to the first row's sums and w[1]·(u, v) to the second's.
        @inline(__always)
        mutating func add(_ w: UnsafePointer<Float>, _ u: Half, _ v: Half) {
            var s = Half(repeating: w[0])
            a0.addProduct(s, u)
            b0.addProduct(s, v)
            s = Half(repeating: w[1])
            a1.addProduct(s, u)
            b1.addProduct(s, v)
        }

        /// Stores the rows among the first `rows`: rows past the weights' last are not the caller's.
        @inline(__always)
        func store(_ c: UnsafeMutablePointer<Float>, _ row: Int, _ rows: Int, _ ldc: Int) {
            if row < rows {
                UnsafeMutableRawPointer(c + row * ldc).storeBytes(of: a0, as: Half.self)
                UnsafeMutableRawPointer(c + row * ldc + halfWidth).storeBytes(of: b0, as: Half.self)
            }
            if row + 1 < rows {
                UnsafeMutableRawPointer(c + (row + 1) * ldc).storeBytes(of: a1, as: Half.self)
                UnsafeMutableRawPointer(c + (row + 1) * ldc + halfWidth).storeBytes(of: b1, as: Half.self)
            }
        }
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
            block(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing, pairs: 2)
            return
        }
        #if TESSERA_AVX512
        if rows <= 8 {
            block(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing, pairs: 4)
            return
        }
        #endif
        block(w, x, depth: depth, into: c, ldc: ldc, rows: rows, continuing: continuing, pairs: kernelRows / 2)
    }

    /// 2 · `pairs` rows (at most kernelRows; a constant at every call, so the pairs not used
    /// fold away) × columnsPerBlock columns, in registers over `depth` (w steps by
    /// rowsPerBlock from one k to the next), from zero or `continuing` the sums in c; only
    /// the first `rows` are read and written.
    @inline(__always)
    static func block(
        _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int,
        continuing: Bool, pairs: Int
    ) {
        var p0 = RowPair(), p1 = RowPair(), p2 = RowPair(), p3 = RowPair(), p4 = RowPair(), p5 = RowPair()
        if continuing {
            p0.load(c, 0, rows, ldc)
            if pairs > 1 { p1.load(c, 2, rows, ldc) }
            if pairs > 2 { p2.load(c, 4, rows, ldc) }
            if pairs > 3 { p3.load(c, 6, rows, ldc) }
            if pairs > 4 { p4.load(c, 8, rows, ldc) }
            if pairs > 5 { p5.load(c, 10, rows, ldc) }
        }
        var w = w, x = x
        for _ in 0..<depth {
            let u = UnsafeRawPointer(x).loadUnaligned(as: Half.self), v = UnsafeRawPointer(x + halfWidth).loadUnaligned(as: Half.self)
            p0.add(w, u, v)
            if pairs > 1 { p1.add(w + 2, u, v) }
            if pairs > 2 { p2.add(w + 4, u, v) }
            if pairs > 3 { p3.add(w + 6, u, v) }
            if pairs > 4 { p4.add(w + 8, u, v) }
            if pairs > 5 { p5.add(w + 10, u, v) }
            w += rowsPerBlock
            x += 2 * halfWidth
        }
        p0.store(c, 0, rows, ldc)
        if pairs > 1 { p1.store(c, 2, rows, ldc) }
        if pairs > 2 { p2.store(c, 4, rows, ldc) }
        if pairs > 3 { p3.store(c, 6, rows, ldc) }
        if pairs > 4 { p4.store(c, 8, rows, ldc) }
        if pairs > 5 { p5.store(c, 10, rows, ldc) }
    }
}
