/// The product of a 1×1 convolution's weights and its input, C = W·X (W: M × K, X: K × N
/// row-major, one row of N pixels per input channel), with W packed once for the layer
/// rather than by every call, as a BLAS must; bias and activation are applied to each chunk
/// of outputs while it is in cache. (Deep in EfficientNet N is small, and OpenBLAS spent a
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
    /// Rows the kernel computes at once: 12 × 2 accumulators, of 32 registers.
    static let kernelRows = 12
    #else
    /// Half a kernel's row of outputs: one AVX2 register.
    typealias Half = SIMD8<Float>
    /// Rows the kernel computes at once: 6 × 2 accumulators, of 16 registers.
    static let kernelRows = 6
    #endif

    /// Output columns the kernel computes at once.
    static var columnsPerBlock: Int { 2 * Half.scalarCount }

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
    /// to c) runs on each chunk of outputs as soon as it is complete.
    public static func multiply(
        packed: UnsafePointer<Float>, depth k: Int, rows: Range<Int>, x: UnsafePointer<Float>, ldx: Int,
        columns: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutablePointer<Float>,
        finished: (Range<Int>, Range<Int>) -> Void
    ) {
        precondition(rows.lowerBound % rowsPerBlock == 0, "rows start on a block of the packed weights")
        let r = kernelRows, n = columnsPerBlock, group = groupWidth(depth: k)
        let edge = scratch + group * k
        // About 128 KB of weights and 256 KB of outputs at a time, in whole blocks.
        let chunk = max(1, min((1 << 15) / max(1, k * rowsPerBlock), (1 << 16) / (group * rowsPerBlock))) * rowsPerBlock
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
                for panel in 0..<panels {
                    let panelWidth = min(n, width - panel * n), input = scratch + panel * n * k
                    var row = first
                    while row < end {
                        let output = c + (row - rows.lowerBound) * ldc + firstColumn + panel * n
                        let height = min(r, end - row)
                        // Row `row`'s place in its block of the packed weights.
                        let weights = packed + row / rowsPerBlock * rowsPerBlock * k + row % rowsPerBlock
                        if height == r && panelWidth == n {
                            block(weights, input, depth: k, into: output, ldc: ldc)
                        } else {
                            block(weights, input, depth: k, into: edge, ldc: n)
                            for i in 0..<height { (output + i * ldc).update(from: edge + i * n, count: panelWidth) }
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

    /// Copies `columns` (≤ columnsPerBlock) columns of k rows into a k-major panel.
    @inline(__always)
    static func packPanel(_ x: UnsafePointer<Float>, ldx: Int, depth k: Int, columns: Int, into panel: UnsafeMutablePointer<Float>) {
        let n = columnsPerBlock, half = Half.scalarCount
        if columns == n {
            for i in 0..<k {
                let source = UnsafeRawPointer(x + i * ldx), target = UnsafeMutableRawPointer(panel + i * n)
                target.storeBytes(of: source.loadUnaligned(as: Half.self), as: Half.self)
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: 4 * half, as: Half.self), toByteOffset: 4 * half, as: Half.self)
            }
        } else {
            for i in 0..<k {
                for j in 0..<n { panel[i * n + j] = j < columns ? x[i * ldx + j] : 0 }
            }
        }
    }

    /// Stores one row of a kernel's outputs: two vectors side by side.
    @inline(__always)
    static func store<V: SIMD>(_ a: V, _ b: V, _ c: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(c).storeBytes(of: a, as: V.self)
        UnsafeMutableRawPointer(c + V.scalarCount).storeBytes(of: b, as: V.self)
    }

    #if TESSERA_AVX512
    /// kernelRows rows × columnsPerBlock columns, in registers over all of k (w steps by
    /// rowsPerBlock from one k to the next).
    @inline(__always)
    static func block(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V(), a8 = V(), a9 = V(), a10 = V(), a11 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V(), b8 = V(), b9 = V(), b10 = V(), b11 = V()
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
        store(a0, b0, c); store(a1, b1, c + ldc); store(a2, b2, c + 2 * ldc); store(a3, b3, c + 3 * ldc)
        store(a4, b4, c + 4 * ldc); store(a5, b5, c + 5 * ldc); store(a6, b6, c + 6 * ldc); store(a7, b7, c + 7 * ldc)
        store(a8, b8, c + 8 * ldc); store(a9, b9, c + 9 * ldc); store(a10, b10, c + 10 * ldc); store(a11, b11, c + 11 * ldc)
    }
    #else
    /// kernelRows rows × columnsPerBlock columns, in registers over all of k (w steps by
    /// rowsPerBlock from one k to the next).
    @inline(__always)
    static func block(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, depth: Int, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        typealias V = Half
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V()
        var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V()
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
        store(a0, b0, c); store(a1, b1, c + ldc); store(a2, b2, c + 2 * ldc)
        store(a3, b3, c + 3 * ldc); store(a4, b4, c + 4 * ldc); store(a5, b5, c + 5 * ldc)
    }
    #endif
}
