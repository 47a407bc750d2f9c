/// A Winograd output tile for 3×3 kernels: F(2×2, 3×3) or F(4×4, 3×3), with the
/// transforms of Lavin & Gray (interpolation points 0, ±1, ±2, ∞ for F(4, 3)).
public enum WinogradTile: Int, Sendable {
    case f2 = 2, f4 = 4

    /// Outputs per tile side.
    public var m: Int { rawValue }
    /// Inputs per tile side, m + 2.
    public var alpha: Int { m + 2 }

    /// G, α × 3: filters are transformed as G g Gᵀ.
    public var g: [[Double]] {
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

    /// Transforms one input channel's band (`rows` tile rows, zero-padded, m·rows + 2 rows
    /// of `paddedWidth`): Bᵀ d B for eight tiles at a time, stored at
    /// v[(position · channels + channel) · tiles + tile]. `scratch` holds α² vectors.
    public func transformInputBand(_ padded: UnsafeMutablePointer<Float>, paddedWidth: Int, rows: Int, blocks: Int,
                                   channel c: Int, channels: Int, tiles: Int, into v: UnsafeMutablePointer<Float>,
                                   scratch d: UnsafeMutablePointer<SIMD8<Float>>) {
        let m = self.m, alpha = self.alpha, rowTiles = blocks * 8
        for tileRow in 0..<rows {
            for block in 0..<blocks {
                // Tile t's column b is m·t + b.
                for a in 0..<alpha {
                    let line = UnsafeRawPointer(padded + (m * tileRow + a) * paddedWidth + block * 8 * m)
                    for b in 0..<alpha { d[a * alpha + b] = columns(line, b) }
                }
                transformInput(d)
                let column = tileRow * rowTiles + block * 8
                for i in 0..<(alpha * alpha) {
                    UnsafeMutableRawPointer(v + (i * channels + c) * tiles + column).storeBytes(of: d[i], as: SIMD8<Float>.self)
                }
            }
        }
    }

    /// Transforms one output channel's products back (Aᵀ m A) into its band of the output
    /// plane (height × width), clipping tiles that overhang the edges.
    public func transformOutputBand(_ products: UnsafeMutablePointer<Float>, channel o: Int, channels: Int, tiles: Int,
                                    rows: Int, blocks: Int, firstTileRow: Int, into plane: UnsafeMutablePointer<Float>,
                                    height: Int, width: Int, scratch d: UnsafeMutablePointer<SIMD8<Float>>) {
        let m = self.m, positions = alpha * alpha, rowTiles = blocks * 8
        for tileRow in 0..<rows {
            for block in 0..<blocks {
                let column = tileRow * rowTiles + block * 8
                for i in 0..<positions {
                    d[i] = UnsafeRawPointer(products + (i * channels + o) * tiles + column).loadUnaligned(as: SIMD8<Float>.self)
                }
                // d[i·m + j] ← output (i, j) of the eight tiles.
                transformOutput(d)
                let oy = m * (firstTileRow + tileRow), ox = 8 * m * block
                if ox + 8 * m <= width && oy + m <= height {
                    for i in 0..<m { storeRow(d + i * m, to: plane + (oy + i) * width + ox) }
                    continue
                }
                for i in 0..<m where oy + i < height {
                    for lane in 0..<8 {
                        for j in 0..<m where ox + m * lane + j < width {
                            plane[(oy + i) * width + ox + m * lane + j] = d[i * m + j][lane]
                        }
                    }
                }
            }
        }
    }
}
