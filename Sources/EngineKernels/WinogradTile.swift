/// A Winograd output tile for 3×3 kernels: F(2×2, 3×3) or F(4×4, 3×3), with the
/// transforms of Lavin & Gray (interpolation points 0, ±1, ±2, ∞ for F(4, 3)).
public enum WinogradTile: Int, Sendable {
    public typealias Vector = SIMD8<Float>

    case f2 = 2, f4 = 4

    /// Outputs per tile side.
    public var m: Int { rawValue }
    /// Inputs per tile side, m + 2.
    public var alpha: Int { m + 2 }

    /// G, α × 3: filters are transformed as G g Gᵀ.
    public var g: [[Double]] {
        switch self {
        case .f2: return [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        case .f4:
            return [
                [1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
            ]
        }
    }

    /// Bᵀ applied to the four values of F(2×2, 3×3)'s tile along one axis.
    @inline(__always)
    static func input2(_ d0: Vector, _ d1: Vector, _ d2: Vector, _ d3: Vector) -> (Vector, Vector, Vector, Vector) {
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    /// Bᵀ applied to the six values of F(4×4, 3×3)'s tile along one axis.
    @inline(__always)
    static func input4(
        _ d0: Vector, _ d1: Vector, _ d2: Vector, _ d3: Vector, _ d4: Vector, _ d5: Vector
    )
        -> (Vector, Vector, Vector, Vector, Vector, Vector)
    {
        (
            4 * d0 - 5 * d2 + d4,
            d3 + d4 - 4 * (d1 + d2),
            4 * (d1 - d2) + d4 - d3,
            2 * (d3 - d1) + d4 - d2,
            2 * (d1 - d3) + d4 - d2,
            4 * d1 - 5 * d3 + d5
        )
    }

    /// Aᵀ applied to the four values of F(2×2, 3×3)'s products along one axis.
    @inline(__always)
    static func output2(_ m0: Vector, _ m1: Vector, _ m2: Vector, _ m3: Vector) -> (Vector, Vector) {
        (m0 + m1 + m2, m1 - m2 - m3)
    }

    /// Aᵀ applied to the six values of F(4×4, 3×3)'s products along one axis.
    @inline(__always)
    static func output4(
        _ m0: Vector, _ m1: Vector, _ m2: Vector, _ m3: Vector, _ m4: Vector, _ m5: Vector
    )
        -> (Vector, Vector, Vector, Vector)
    {
        let sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4
        return (m0 + sum12 + sum34, difference12 + 2 * difference34, sum12 + 4 * sum34, difference12 + 8 * difference34 + m5)
    }

    /// The m outputs of one row of eight tiles, tile by tile, as 8m contiguous floats.
    @inline(__always)
    func storeRow(_ y: UnsafeMutablePointer<Vector>, to target: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(target)
        switch self {
        case .f2:
            let a = y[0], b = y[1]
            raw.storeBytes(of: SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]), as: Vector.self)
            raw.storeBytes(of: SIMD8(a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7]), toByteOffset: 32, as: Vector.self)
        case .f4:
            let a = y[0], b = y[1], c = y[2], e = y[3]
            for pair in 0..<4 {
                let t = 2 * pair
                raw.storeBytes(
                    of: SIMD8(a[t], b[t], c[t], e[t], a[t + 1], b[t + 1], c[t + 1], e[t + 1]),
                    toByteOffset: 32 * pair, as: Vector.self)
            }
        }
    }

    /// Transforms one input channel's band of `rows` tile rows: Bᵀ d B for eight tiles at a
    /// time, stored at v[(position · channels + channel) · tiles + tile]. The band is
    /// zero-padded and split by phase (`Kernels.pad` with stride m): padded row r, column j
    /// is at r·m·phaseLength + (j mod m)·phaseLength + j / m, so column b of eight
    /// consecutive tiles is one contiguous load. Both passes of the transform stay in
    /// registers but for one α×α scratch of vectors between them.
    public func transformInputBand(
        _ padded: UnsafeMutablePointer<Float>, phaseLength: Int, rows: Int, blocks: Int,
        channel c: Int, channels: Int, tiles: Int, into v: UnsafeMutablePointer<Float>,
        scratch d: UnsafeMutablePointer<Vector>
    ) {
        let m = self.m, rowLength = m * phaseLength, positionStride = 4 * channels * tiles
        for tileRow in 0..<rows {
            for block in 0..<blocks {
                let origin = UnsafeRawPointer(padded + m * tileRow * rowLength + 8 * block)
                let out = UnsafeMutableRawPointer(v + c * tiles + tileRow * blocks * 8 + block * 8)
                @inline(__always) func store(_ position: Int, _ value: Vector) {
                    out.storeBytes(of: value, toByteOffset: position * positionStride, as: Vector.self)
                }
                switch self {
                case .f2:
                    // Down each column b (phase b mod 2, offset b / 2), then along each row.
                    for b in 0..<4 {
                        let column = origin + 4 * ((b & 1) * phaseLength + (b >> 1))
                        @inline(__always) func at(_ a: Int) -> Vector { column.loadUnaligned(fromByteOffset: 4 * a * rowLength, as: Vector.self) }
                        let t = Self.input2(at(0), at(1), at(2), at(3))
                        d[b] = t.0; d[4 + b] = t.1; d[8 + b] = t.2; d[12 + b] = t.3
                    }
                    for a in 0..<4 {
                        let t = Self.input2(d[4 * a], d[4 * a + 1], d[4 * a + 2], d[4 * a + 3])
                        store(4 * a, t.0); store(4 * a + 1, t.1); store(4 * a + 2, t.2); store(4 * a + 3, t.3)
                    }
                case .f4:
                    for b in 0..<6 {
                        let column = origin + 4 * ((b & 3) * phaseLength + (b >> 2))
                        @inline(__always) func at(_ a: Int) -> Vector { column.loadUnaligned(fromByteOffset: 4 * a * rowLength, as: Vector.self) }
                        let t = Self.input4(at(0), at(1), at(2), at(3), at(4), at(5))
                        d[b] = t.0; d[6 + b] = t.1; d[12 + b] = t.2; d[18 + b] = t.3; d[24 + b] = t.4; d[30 + b] = t.5
                    }
                    for a in 0..<6 {
                        let t = Self.input4(d[6 * a], d[6 * a + 1], d[6 * a + 2], d[6 * a + 3], d[6 * a + 4], d[6 * a + 5])
                        store(6 * a, t.0); store(6 * a + 1, t.1); store(6 * a + 2, t.2)
                        store(6 * a + 3, t.3); store(6 * a + 4, t.4); store(6 * a + 5, t.5)
                    }
                }
            }
        }
    }

    /// Transforms one output channel's products back (Aᵀ m A) into its band of the output
    /// plane (height × width), clipping tiles that overhang the edges, and applies the
    /// bias and activation (`Kernels.activate`'s codes) on the way out. `scratch` holds
    /// α² + m² vectors.
    public func transformOutputBand(
        _ products: UnsafeMutablePointer<Float>, channel o: Int, channels: Int, tiles: Int,
        rows: Int, blocks: Int, firstTileRow: Int, into plane: UnsafeMutablePointer<Float>,
        height: Int, width: Int, bias: Float, activation: Int, scratch d: UnsafeMutablePointer<Vector>
    ) {
        let m = self.m
        Kernels.withActivation(activation, bias: bias) { finish in
            for tileRow in 0..<rows {
                for block in 0..<blocks {
                    transformOutputBlock(
                        products + o * tiles + tileRow * blocks * 8 + block * 8, positionStride: channels * tiles,
                        into: d)
                    let y = d + alpha * alpha
                    for i in stride(from: 0, to: m * m, by: 2) {  // m² is even: two vectors at a time
                        let pair = finish(SIMD16(lowHalf: y[i], highHalf: y[i + 1]))
                        y[i] = pair.lowHalf
                        y[i + 1] = pair.highHalf
                    }
                    let oy = m * (firstTileRow + tileRow), ox = 8 * m * block
                    if ox + 8 * m <= width && oy + m <= height {
                        for i in 0..<m { storeRow(y + i * m, to: plane + (oy + i) * width + ox) }
                        continue
                    }
                    for i in 0..<m where oy + i < height {
                        for lane in 0..<8 {
                            for j in 0..<m where ox + m * lane + j < width {
                                plane[(oy + i) * width + ox + m * lane + j] = y[i * m + j][lane]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Aᵀ m A for eight tiles whose α² products lie `positionStride` floats apart from
    /// `source`: down each column, then along each row, leaving output (i, j) at
    /// d[α² + i·m + j].
    private func transformOutputBlock(_ source: UnsafeMutablePointer<Float>, positionStride: Int, into d: UnsafeMutablePointer<Vector>) {
        let raw = UnsafeRawPointer(source)
        @inline(__always) func load(_ position: Int) -> Vector {
            raw.loadUnaligned(fromByteOffset: 4 * position * positionStride, as: Vector.self)
        }
        switch self {
        case .f2:
            for b in 0..<4 {
                let t = Self.output2(load(b), load(4 + b), load(8 + b), load(12 + b))
                d[b] = t.0; d[4 + b] = t.1
            }
            for i in 0..<2 {
                let t = Self.output2(d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3])
                d[16 + 2 * i] = t.0; d[16 + 2 * i + 1] = t.1
            }
        case .f4:
            for b in 0..<6 {
                let t = Self.output4(load(b), load(6 + b), load(12 + b), load(18 + b), load(24 + b), load(30 + b))
                d[b] = t.0; d[6 + b] = t.1; d[12 + b] = t.2; d[18 + b] = t.3
            }
            for i in 0..<4 {
                let t = Self.output4(d[6 * i], d[6 * i + 1], d[6 * i + 2], d[6 * i + 3], d[6 * i + 4], d[6 * i + 5])
                d[36 + 4 * i] = t.0; d[36 + 4 * i + 1] = t.1; d[36 + 4 * i + 2] = t.2; d[36 + 4 * i + 3] = t.3
            }
        }
    }
}
