import Core
import EngineKernels
import OpenBLAS

/// 3×3 stride-1 convolutions by Winograd's minimal filtering (Lavin & Gray, 2015): each
/// α×α input tile is transformed (Bᵀ d B), multiplied channel-wise by the transformed
/// filters (G g Gᵀ, computed once) as α² GEMMs, and transformed back (Aᵀ m A) into an m×m
/// output tile. F(4×4, 3×3) (α = 6) needs 36 multiplies per 16 outputs instead of 144,
/// F(2×2, 3×3) (α = 4) 16 per 4 instead of 36; the larger tile serves large maps, the
/// smaller one the rest. Against im2col + GEMM the results differ by about 5e-7 (F2) and
/// 5e-6 (F4) of the output's magnitude on random data; 1e-6 on a whole EffUnet-b5 tile.
/// Which transformed filters a Winograd layer multiplies by: for which tile, and whether
/// packed for `PointwiseGEMM` (on CPUs with FMA) or plain for OpenBLAS.
struct WinogradFilters: Hashable {
    let tile: WinogradTile
    let packed: Bool
}

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

    /// The filters transformed for `filters.tile`, G g Gᵀ, as α² matrices of outChannels ×
    /// inChannels (position-major), computed in double precision; each matrix packed for
    /// `PointwiseGEMM` if `filters.packed`.
    func winogradFilters(_ filters: WinogradFilters) -> [Float] {
        let tile = filters.tile
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
        guard filters.packed else { return u }
        let size = cout * cin
        return (0..<(alpha * alpha)).flatMap { PackedWeights(Array(u[($0 * size)..<(($0 + 1) * size)]), rows: cout, depth: cin).values }
    }

    /// The convolution by `tile`, cut into tasks of bands of tile rows (a function of the
    /// shape alone). A task transforms its band of every input channel, runs the α² GEMMs
    /// single-threaded and writes its band of every output channel, with bias and activation.
    func winograd(_ x: Tensor, filters: WinogradFilters, values u: UnsafePointer<Float>, into out: inout Tensor) {
        let tile = filters.tile, cin = inChannels, cout = outChannels, m = tile.m, alpha = tile.alpha, positions = alpha * alpha
        // Each position's matrix of transformed filters, packed or not.
        let matrixSize = filters.packed ? PackedWeights.count(rows: cout, depth: cin) : cout * cin
        let inHeight = x.height, inWidth = x.width, outHeight = out.height, outWidth = out.width
        let tilesY = (outHeight + m - 1) / m, tilesX = (outWidth + m - 1) / m
        let blocksX = (tilesX + 7) / 8, rowTiles = blocksX * 8
        // A padded band row is split into m phases (column j in phase j mod m at j / m); a
        // phase holds every column of its own that a block of eight tiles loads.
        let phaseLength = 8 * blocksX + 1, paddedWidth = m * phaseLength
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
                    let transformed = DisjointPointer(UnsafeMutablePointer(mutating: u))
                    let biases = DisjointPointer(UnsafeMutablePointer(mutating: bias.baseAddress!))
                    Parallel.forEach(bands) { band in
                        let firstTileRow = band * bandRows, rows = min(bandRows, tilesY - firstTileRow)
                        let tiles = rows * rowTiles
                        let v = UnsafeMutablePointer<Float>.allocate(capacity: positions * cin * tiles)
                        let products = UnsafeMutablePointer<Float>.allocate(capacity: positions * cout * tiles)
                        let paddedRows = m * rows + 2
                        let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedWidth)
                        // Values between the transforms' two passes, eight tiles wide.
                        let d = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: positions + m * m)
                        defer { v.deallocate(); products.deallocate(); padded.deallocate(); d.deallocate() }
                        for c in 0..<cin {
                            // The band's input rows, zero-padded: padded row r is input row
                            // m·firstTileRow + r − top, padded column j is x = j − left.
                            KernelSet.pad(
                                source.base + c * inHeight * inWidth, height: inHeight, width: inWidth,
                                top: top - m * firstTileRow, left: left, stride: m, phaseLength: phaseLength,
                                rows: paddedRows, into: padded)
                            KernelSet.winogradInput(
                                tile, padded, phaseLength: phaseLength, rows: rows, blocks: blocksX,
                                channel: c, channels: cin, tiles: tiles, into: v, scratch: d)
                        }
                        if filters.packed {
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: KernelSet.pointwiseScratchCount(depth: cin))
                            defer { scratch.deallocate() }
                            for i in 0..<positions {
                                KernelSet.multiplyPointwise(
                                    packed: transformed.base + i * matrixSize, depth: cin, rows: 0..<cout, x: v + i * cin * tiles,
                                    ldx: tiles, columns: tiles, into: products + i * cout * tiles, ldc: tiles, scratch: scratch
                                ) { _, _ in }
                            }
                        } else {
                            for i in 0..<positions {
                                BLAS.sgemm(
                                    m: cout, n: tiles, k: cin, a: transformed.base + i * matrixSize, lda: cin,
                                    b: v + i * cin * tiles, ldb: tiles, c: products + i * cout * tiles, ldc: tiles)
                            }
                        }
                        for o in 0..<cout {
                            KernelSet.winogradOutput(
                                tile, products, channel: o, channels: cout, tiles: tiles, rows: rows, blocks: blocksX,
                                firstTileRow: firstTileRow, into: target.base + o * outHeight * outWidth,
                                height: outHeight, width: outWidth, bias: biases.base[o],
                                activation: activation.kernelCode, scratch: d)
                        }
                    }
                }
            }
        }
    }
}
