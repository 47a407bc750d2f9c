import OpenBLAS
import Shared

/// 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray,
/// 2015): each 4×4 input tile is transformed (Bᵀ d B), multiplied channel-wise by the
/// transformed filters (G g Gᵀ, computed once) as 16 GEMMs, and transformed back (Aᵀ m A)
/// into a 2×2 output tile. That is 16 multiplies per 4 outputs instead of 36, a 2.25× cut
/// of the GEMM work of the decoder's 3×3 convs. The transforms use only additions, so
/// results stay within float rounding of the direct convolution.
extension Conv2d {
    /// Whether this layer runs by Winograd: 3×3, stride 1, no dilation or groups, and
    /// enough channels for the 16 GEMMs to beat one im2col GEMM.
    var usesWinograd: Bool {
        kernel.height == 3 && kernel.width == 3 && stride == 1 && dilation == 1 && groups == 1
            && inChannels >= 32 && outChannels >= 16 && allowsWinograd
    }

    /// The filters transformed, G g Gᵀ, as 16 matrices of outChannels × inChannels
    /// (position-major), computed in double precision.
    func winogradFilters() -> [Float] {
        let cin = inChannels, cout = outChannels
        let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        var u = [Float](repeating: 0, count: 16 * cout * cin)
        let weight = self.weight
        for o in 0..<cout {
            for c in 0..<cin {
                let w = (0..<9).map { Double(weight[(o * cin + c) * 9 + $0]) }
                for a in 0..<4 {
                    for b in 0..<4 {
                        var sum = 0.0
                        for i in 0..<3 { for j in 0..<3 { sum += g[a][i] * w[i * 3 + j] * g[b][j] } }
                        u[((a * 4 + b) * cout + o) * cin + c] = Float(sum)
                    }
                }
            }
        }
        return u
    }

    /// The convolution by F(2×2, 3×3), cut into tasks of bands of tile rows (a function of
    /// the shape alone). A task transforms its band of every input channel, runs the 16
    /// GEMMs single-threaded and writes its band of every output channel, with bias and
    /// activation.
    func winograd(_ x: Tensor, filters u: UnsafePointer<Float>, into out: inout Tensor) {
        let cin = inChannels, cout = outChannels
        let inHeight = x.height, inWidth = x.width, outHeight = out.height, outWidth = out.width
        let tilesY = (outHeight + 1) / 2, tilesX = (outWidth + 1) / 2
        let blocksX = (tilesX + 7) / 8, rowTiles = blocksX * 8
        // A padded band row holds every column a block of eight tiles reads as 16-wide loads.
        let paddedWidth = 16 * blocksX + 3
        // About 1 MB of transformed input per task (it and the products stay in L2), and at
        // least 64 tiles.
        let bandRows = max(1, min(tilesY, max(64, (1 << 18) / (16 * cin)) / rowTiles))
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
                        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * cin * tiles)
                        let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * cout * tiles)
                        let paddedRows = 2 * rows + 2
                        let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedWidth)
                        // One tile's 16 values, eight tiles wide.
                        let d = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 16)
                        defer { v.deallocate(); m.deallocate(); padded.deallocate(); d.deallocate() }
                        for c in 0..<cin {
                            // The band's input rows, zero-padded: padded column j is x = j − left.
                            let channel = source.base + c * inHeight * inWidth
                            let lo = min(max(left, 0), paddedWidth), hi = min(max(left + inWidth, lo), paddedWidth)
                            for r in 0..<paddedRows {
                                let line = padded + r * paddedWidth, y = 2 * firstTileRow + r - top
                                guard y >= 0 && y < inHeight else {
                                    line.update(repeating: 0, count: paddedWidth)
                                    continue
                                }
                                line.update(repeating: 0, count: lo)
                                (line + lo).update(from: channel + y * inWidth + (lo - left), count: hi - lo)
                                (line + hi).update(repeating: 0, count: paddedWidth - hi)
                            }
                            // Bᵀ d B for eight tiles at a time: tile t's column b is 2t + b, the
                            // even lanes of a 16-wide load at b.
                            for tileRow in 0..<rows {
                                for block in 0..<blocksX {
                                    for a in 0..<4 {
                                        let line = UnsafeRawPointer(padded + (2 * tileRow + a) * paddedWidth + block * 16)
                                        for b in 0..<4 {
                                            d[a * 4 + b] = line.loadUnaligned(fromByteOffset: 4 * b, as: SIMD16<Float>.self).evenHalf
                                        }
                                    }
                                    let column = tileRow * rowTiles + block * 8
                                    Self.transformInput(d)
                                    for i in 0..<16 {
                                        UnsafeMutableRawPointer(v + (i * cin + c) * tiles + column).storeBytes(of: d[i], as: SIMD8<Float>.self)
                                    }
                                }
                            }
                        }
                        for i in 0..<16 {
                            BLAS.sgemm(m: cout, n: tiles, k: cin, a: filters.base + i * cout * cin, lda: cin,
                                       b: v + i * cin * tiles, ldb: tiles, c: m + i * cout * tiles, ldc: tiles)
                        }
                        let firstRow = 2 * firstTileRow, endRow = min(outHeight, 2 * (firstTileRow + rows))
                        for o in 0..<cout {
                            let plane = target.base + o * outHeight * outWidth
                            for tileRow in 0..<rows {
                                for block in 0..<blocksX {
                                    let column = tileRow * rowTiles + block * 8
                                    for i in 0..<16 {
                                        d[i] = UnsafeRawPointer(m + (i * cout + o) * tiles + column).loadUnaligned(as: SIMD8<Float>.self)
                                    }
                                    let (y00, y01, y10, y11) = Self.transformOutput(d)
                                    let oy = 2 * (firstTileRow + tileRow)
                                    if 16 * (block + 1) <= outWidth && oy + 1 < outHeight {
                                        let top = UnsafeMutableRawPointer(plane + oy * outWidth + 16 * block)
                                        Self.storeInterleaved(y00, y01, to: top)
                                        Self.storeInterleaved(y10, y11, to: top + 4 * outWidth)
                                        continue
                                    }
                                    for lane in 0..<8 {
                                        let ox = 2 * (block * 8 + lane)
                                        guard ox < outWidth else { break }
                                        let top = plane + oy * outWidth + ox
                                        top[0] = y00[lane]
                                        if ox + 1 < outWidth { top[1] = y01[lane] }
                                        if oy + 1 < outHeight {
                                            top[outWidth] = y10[lane]
                                            if ox + 1 < outWidth { top[outWidth + 1] = y11[lane] }
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

    /// d ← Bᵀ d B for a 4×4 tile (row-major), Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
    @inline(__always)
    static func transformInput(_ d: UnsafeMutablePointer<SIMD8<Float>>) {
        for b in 0..<4 {
            let d0 = d[b], d1 = d[4 + b], d2 = d[8 + b], d3 = d[12 + b]
            d[b] = d0 - d2; d[4 + b] = d1 + d2; d[8 + b] = d2 - d1; d[12 + b] = d1 - d3
        }
        for a in 0..<4 {
            let d0 = d[a * 4], d1 = d[a * 4 + 1], d2 = d[a * 4 + 2], d3 = d[a * 4 + 3]
            d[a * 4] = d0 - d2; d[a * 4 + 1] = d1 + d2; d[a * 4 + 2] = d2 - d1; d[a * 4 + 3] = d1 - d3
        }
    }

    /// a0 b0 a1 b1 … a7 b7 (the left and right outputs of eight tiles) as 16 floats.
    @inline(__always)
    static func storeInterleaved(_ a: SIMD8<Float>, _ b: SIMD8<Float>, to target: UnsafeMutableRawPointer) {
        target.storeBytes(of: SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]), as: SIMD8<Float>.self)
        target.storeBytes(of: SIMD8(a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7]), toByteOffset: 32, as: SIMD8<Float>.self)
    }

    /// Aᵀ m A for a 4×4 tile, Aᵀ = [1 1 1 0; 0 1 −1 −1]: the 2×2 outputs.
    @inline(__always)
    static func transformOutput(_ m: UnsafeMutablePointer<SIMD8<Float>>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let s0 = m[0] + m[4] + m[8], s1 = m[1] + m[5] + m[9], s2 = m[2] + m[6] + m[10], s3 = m[3] + m[7] + m[11]
        let t0 = m[4] - m[8] - m[12], t1 = m[5] - m[9] - m[13], t2 = m[6] - m[10] - m[14], t3 = m[7] - m[11] - m[15]
        return (s0 + s1 + s2, s1 - s2 - s3, t0 + t1 + t2, t1 - t2 - t3)
    }
}
