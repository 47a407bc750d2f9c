import OpenBLAS
import Shared

/// 3×3 stride-1 convolutions by Winograd's minimal filtering (Lavin & Gray, 2015): each
/// α×α input tile is transformed (Bᵀ d B), multiplied channel-wise by the transformed
/// filters (G g Gᵀ, computed once) as α² GEMMs, and transformed back (Aᵀ m A) into an m×m
/// output tile. F(4×4, 3×3) (α = 6) needs 36 multiplies per 16 outputs instead of 144,
/// F(2×2, 3×3) (α = 4) 16 per 4 instead of 36; the larger tile serves large maps, the
/// smaller one the rest. Against im2col + GEMM the results differ by about 5e-7 (F2) and
/// 5e-6 (F4) of the output's magnitude on random data; 1e-6 on a whole EffUnet-b5 tile.
extension Conv2d {
    /// Whether this layer runs by Winograd: 3×3, stride 1, no dilation or groups, and
    /// enough channels for the α² GEMMs to beat one im2col GEMM.
    var usesWinograd: Bool {
        kernel.height == 3 && kernel.width == 3 && stride == 1 && dilation == 1 && groups == 1
            && inChannels >= 32 && outChannels >= 16 && allowsWinograd
    }

    /// The output tile for a map of this size: F(4×4, 3×3) from 64 pixels a side, where it
    /// was measured faster; F(2×2, 3×3), whose rounding error is about ten times smaller,
    /// below.
    static func winogradTile(height: Int, width: Int) -> WinogradTile { min(height, width) >= 64 ? .f4 : .f2 }

    /// The filters transformed for `tile`, G g Gᵀ, as α² matrices of outChannels ×
    /// inChannels (position-major), computed in double precision.
    func winogradFilters(_ tile: WinogradTile) -> [Float] {
        let cin = inChannels, cout = outChannels, alpha = tile.alpha, g = tile.g
        var u = [Float](repeating: 0, count: alpha * alpha * cout * cin)
        let weight = self.weight
        for o in 0..<cout {
            for c in 0..<cin {
                let w = (0..<9).map { Double(weight[(o * cin + c) * 9 + $0]) }
                for a in 0..<alpha {
                    for b in 0..<alpha {
                        var sum = 0.0
                        for i in 0..<3 { for j in 0..<3 { sum += g[a][i] * w[i * 3 + j] * g[b][j] } }
                        u[((a * alpha + b) * cout + o) * cin + c] = Float(sum)
                    }
                }
            }
        }
        return u
    }

    /// The convolution by `tile`, cut into tasks of bands of tile rows (a function of the
    /// shape alone). A task transforms its band of every input channel, runs the α² GEMMs
    /// single-threaded and writes its band of every output channel, with bias and activation.
    func winograd(_ x: Tensor, tile: WinogradTile, filters u: UnsafePointer<Float>, into out: inout Tensor) {
        let cin = inChannels, cout = outChannels, m = tile.m, alpha = tile.alpha, positions = alpha * alpha
        let inHeight = x.height, inWidth = x.width, outHeight = out.height, outWidth = out.width
        let tilesY = (outHeight + m - 1) / m, tilesX = (outWidth + m - 1) / m
        let blocksX = (tilesX + 7) / 8, rowTiles = blocksX * 8
        // A padded band row holds every column a block of eight tiles reads as 8m-wide loads.
        let paddedWidth = 8 * m * blocksX + 8 * m + alpha
        // About 1 MB of transformed input per task (it and the products stay in L2), and at
        // least 64 tiles.
        let bandRows = max(1, min(tilesY, max(64, (1 << 18) / (positions * cin)) / rowTiles))
        let bands = (tilesY + bandRows - 1) / bandRows
        let top = padding.top, left = padding.left
        let activation = self.activation
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                bias.withUnsafeBufferPointer { bias in
                    let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                    let target = DisjointPointer(output.baseAddress!)
                    let filters = DisjointPointer(UnsafeMutablePointer(mutating: u))
                    let biases = DisjointPointer(UnsafeMutablePointer(mutating: bias.baseAddress!))
                    Parallel.forEach(bands) { band in
                        let firstTileRow = band * bandRows, rows = min(bandRows, tilesY - firstTileRow)
                        let tiles = rows * rowTiles
                        let v = UnsafeMutablePointer<Float>.allocate(capacity: positions * cin * tiles)
                        let products = UnsafeMutablePointer<Float>.allocate(capacity: positions * cout * tiles)
                        let paddedRows = m * rows + 2
                        let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedWidth)
                        // One tile position's values, eight tiles wide.
                        let d = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: positions)
                        defer { v.deallocate(); products.deallocate(); padded.deallocate(); d.deallocate() }
                        let lo = min(max(left, 0), paddedWidth), hi = min(max(left + inWidth, lo), paddedWidth)
                        for c in 0..<cin {
                            // The band's input rows, zero-padded: padded column j is x = j − left.
                            let channel = source.base + c * inHeight * inWidth
                            for r in 0..<paddedRows {
                                let line = padded + r * paddedWidth, y = m * firstTileRow + r - top
                                guard y >= 0 && y < inHeight else {
                                    line.update(repeating: 0, count: paddedWidth)
                                    continue
                                }
                                line.update(repeating: 0, count: lo)
                                (line + lo).update(from: channel + y * inWidth + (lo - left), count: hi - lo)
                                (line + hi).update(repeating: 0, count: paddedWidth - hi)
                            }
                            // Bᵀ d B for eight tiles at a time: tile t's column b is m·t + b.
                            for tileRow in 0..<rows {
                                for block in 0..<blocksX {
                                    for a in 0..<alpha {
                                        let line = UnsafeRawPointer(padded + (m * tileRow + a) * paddedWidth + block * 8 * m)
                                        for b in 0..<alpha { d[a * alpha + b] = tile.columns(line, b) }
                                    }
                                    tile.transformInput(d)
                                    let column = tileRow * rowTiles + block * 8
                                    for i in 0..<positions {
                                        UnsafeMutableRawPointer(v + (i * cin + c) * tiles + column).storeBytes(of: d[i], as: SIMD8<Float>.self)
                                    }
                                }
                            }
                        }
                        for i in 0..<positions {
                            BLAS.sgemm(m: cout, n: tiles, k: cin, a: filters.base + i * cout * cin, lda: cin,
                                       b: v + i * cin * tiles, ldb: tiles, c: products + i * cout * tiles, ldc: tiles)
                        }
                        let firstRow = m * firstTileRow, endRow = min(outHeight, m * (firstTileRow + rows))
                        for o in 0..<cout {
                            let plane = target.base + o * outHeight * outWidth
                            for tileRow in 0..<rows {
                                for block in 0..<blocksX {
                                    let column = tileRow * rowTiles + block * 8
                                    for i in 0..<positions {
                                        d[i] = UnsafeRawPointer(products + (i * cout + o) * tiles + column).loadUnaligned(as: SIMD8<Float>.self)
                                    }
                                    // d[i·m + j] ← output (i, j) of the eight tiles.
                                    tile.transformOutput(d)
                                    let oy = m * (firstTileRow + tileRow), ox = 8 * m * block
                                    if ox + 8 * m <= outWidth && oy + m <= outHeight {
                                        for i in 0..<m { tile.storeRow(d + i * m, to: plane + (oy + i) * outWidth + ox) }
                                        continue
                                    }
                                    for i in 0..<m where oy + i < outHeight {
                                        for lane in 0..<8 {
                                            for j in 0..<m where ox + m * lane + j < outWidth {
                                                plane[(oy + i) * outWidth + ox + m * lane + j] = d[i * m + j][lane]
                                            }
                                        }
                                    }
                                }
                            }
                            activation.apply(plane + firstRow * outWidth, count: (endRow - firstRow) * outWidth, bias: biases.base[o])
                        }
                    }
                }
            }
        }
    }
}

/// A Winograd output tile for 3×3 kernels: F(2×2, 3×3) or F(4×4, 3×3), with the
/// transforms of Lavin & Gray (interpolation points 0, ±1, ±2, ∞ for F(4, 3)).
enum WinogradTile {
    case f2, f4

    /// Outputs per tile side.
    var m: Int { self == .f2 ? 2 : 4 }
    /// Inputs per tile side, m + 2.
    var alpha: Int { m + 2 }

    /// G, α × 3: filters are transformed as G g Gᵀ.
    var g: [[Double]] {
        switch self {
        case .f2: return [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        case .f4: return [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                          [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        }
    }

    /// Column b of eight consecutive tiles of a padded row (elements b, b + m, …, b + 7m).
    @inline(__always)
    func columns(_ line: UnsafeRawPointer, _ b: Int) -> SIMD8<Float> {
        switch self {
        case .f2: return line.loadUnaligned(fromByteOffset: 4 * b, as: SIMD16<Float>.self).evenHalf
        case .f4: return line.loadUnaligned(fromByteOffset: 4 * b, as: SIMD32<Float>.self).evenHalf.evenHalf
        }
    }

    /// d ← Bᵀ d B for an α × α tile (row-major).
    @inline(__always)
    func transformInput(_ d: UnsafeMutablePointer<SIMD8<Float>>) {
        let alpha = self.alpha
        for b in 0..<alpha { input1D(d + b, stride: alpha) }
        for a in 0..<alpha { input1D(d + a * alpha, stride: 1) }
    }

    /// Bᵀ applied to the α values p[0], p[stride], … in place.
    @inline(__always)
    private func input1D(_ p: UnsafeMutablePointer<SIMD8<Float>>, stride s: Int) {
        switch self {
        case .f2:
            let d0 = p[0], d1 = p[s], d2 = p[2 * s], d3 = p[3 * s]
            p[0] = d0 - d2; p[s] = d1 + d2; p[2 * s] = d2 - d1; p[3 * s] = d1 - d3
        case .f4:
            let d0 = p[0], d1 = p[s], d2 = p[2 * s], d3 = p[3 * s], d4 = p[4 * s], d5 = p[5 * s]
            p[0] = 4 * d0 - 5 * d2 + d4
            p[s] = d3 + d4 - 4 * (d1 + d2)
            p[2 * s] = 4 * (d1 - d2) + d4 - d3
            p[3 * s] = 2 * (d3 - d1) + d4 - d2
            p[4 * s] = 2 * (d1 - d3) + d4 - d2
            p[5 * s] = 4 * d1 - 5 * d3 + d5
        }
    }

    /// Aᵀ m A for an α × α tile: afterwards d[i·m + j] holds output (i, j).
    @inline(__always)
    func transformOutput(_ d: UnsafeMutablePointer<SIMD8<Float>>) {
        let alpha = self.alpha, m = self.m
        // Columns first (over a), leaving m rows of α, then each row (over b).
        for b in 0..<alpha { output1D(d + b, stride: alpha) }
        for i in 0..<m { output1D(d + i * alpha, stride: 1) }
        // Compact the m × m results from rows of α to rows of m.
        for i in 1..<m { for j in 0..<m { d[i * m + j] = d[i * alpha + j] } }
    }

    /// Aᵀ applied to the α values p[0], p[stride], …, leaving m results at p[0], p[stride], ….
    @inline(__always)
    private func output1D(_ p: UnsafeMutablePointer<SIMD8<Float>>, stride s: Int) {
        switch self {
        case .f2:
            let m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s]
            p[0] = m0 + m1 + m2; p[s] = m1 - m2 - m3
        case .f4:
            let m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s], m4 = p[4 * s], m5 = p[5 * s]
            let sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4
            p[0] = m0 + sum12 + sum34
            p[s] = difference12 + 2 * difference34
            p[2 * s] = sum12 + 4 * sum34
            p[3 * s] = difference12 + 8 * difference34 + m5
        }
    }

    /// The m outputs of one row of eight tiles, tile by tile, as 8m contiguous floats.
    @inline(__always)
    func storeRow(_ y: UnsafeMutablePointer<SIMD8<Float>>, to target: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(target)
        switch self {
        case .f2:
            let a = y[0], b = y[1]
            raw.storeBytes(of: SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]), as: SIMD8<Float>.self)
            raw.storeBytes(of: SIMD8(a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7]), toByteOffset: 32, as: SIMD8<Float>.self)
        case .f4:
            let a = y[0], b = y[1], c = y[2], e = y[3]
            for pair in 0..<4 {
                let t = 2 * pair
                raw.storeBytes(of: SIMD8(a[t], b[t], c[t], e[t], a[t + 1], b[t + 1], c[t + 1], e[t + 1]),
                               toByteOffset: 32 * pair, as: SIMD8<Float>.self)
            }
        }
    }
}
