import Core

/// How a probability map travels from a worker: one byte per pixel, or IEEE half floats.
///
/// Both ends decode to the stitcher's fixed point the same way, and `tessera infer` passes
/// its maps through the same encoding, so a cluster's mask equals a single machine's bit
/// for bit.
public enum MapEncoding: UInt8, Sendable, Equatable, CaseIterable {
    /// round(p × 255), decoded exactly as q = b × 257.
    case uint8 = 1
    /// IEEE 754 binary16, little-endian; decoded q = round(p × 65535) clamped to [0, 65535].
    case float16 = 2

    public init?(name: String) {
        switch name {
        case "uint8": self = .uint8
        case "float16": self = .float16
        default: return nil
        }
    }

    public var name: String { self == .uint8 ? "uint8" : "float16" }

    /// Bytes per pixel.
    public var bytesPerPixel: Int { self == .uint8 ? 1 : 2 }

    /// Encodes probabilities (NaN and out-of-range values are clamped: NaN to 0).
    public func encode(_ probabilities: [Float]) -> [UInt8] {
        encode(probabilities, rows: 1, columns: probabilities.count, rowStride: probabilities.count, first: 0)
    }

    /// Encodes the central square of a `size` × `size` map, leaving out `inset` values
    /// along each edge (none: the whole map), row by row: what a worker sends when the
    /// window ignores the border (`SegmentationSettings.mapInset`).
    public func encode(_ probabilities: [Float], size: Int, inset: Int) -> [UInt8] {
        precondition(inset >= 0 && 2 * inset < size && probabilities.count == size * size)
        let side = size - 2 * inset
        return encode(probabilities, rows: side, columns: side, rowStride: size, first: inset * size + inset)
    }

    /// `rows` runs of `columns` values, `rowStride` apart from `first`, encoded contiguously.
    private func encode(_ probabilities: [Float], rows: Int, columns: Int, rowStride: Int, first: Int) -> [UInt8] {
        switch self {
        case .uint8:
            return Self.encode(
                probabilities, rows: rows, columns: columns, rowStride: rowStride, first: first,
                vector: Probability.bytes
            ) { Probability.toByte(Probability.fixed($0)) }
        case .float16:
            return Self.encode(
                probabilities, rows: rows, columns: columns, rowStride: rowStride, first: first,
                vector: HalfFloat.probabilityBits
            ) { HalfFloat.bits($0 > 0 ? min($0, 1) : 0) }
        }
    }

    /// Eight values at a time through `vector`, the rest one by one through `scalar`; each
    /// value becomes one little-endian `Code`.
    @inline(__always)
    private static func encode<Code: FixedWidthInteger & SIMDScalar>(
        _ probabilities: [Float], rows: Int, columns: Int, rowStride: Int, first: Int,
        vector: (SIMD8<Float>) -> SIMD8<Code>, scalar: (Float) -> Code
    ) -> [UInt8] {
        let size = MemoryLayout<Code>.size
        return [UInt8](unsafeUninitializedCapacity: rows * columns * size) { out, initialized in
            probabilities.withUnsafeBufferPointer { all in
                for row in 0..<rows {
                    let input = all.baseAddress! + first + row * rowStride
                    let output = UnsafeMutableRawPointer(out.baseAddress!) + row * columns * size
                    var i = 0
                    while i + 8 <= columns {
                        let values = UnsafeRawPointer(input + i).loadUnaligned(as: SIMD8<Float>.self)
                        output.storeBytes(of: vector(values), toByteOffset: size * i, as: SIMD8<Code>.self)
                        i += 8
                    }
                    for i in i..<columns { output.storeBytes(of: scalar(input[i]).littleEndian, toByteOffset: size * i, as: Code.self) }
                }
            }
            initialized = rows * columns * size
        }
    }

    /// Decodes to fixed point; nil when the byte count is wrong.
    public func decode(_ bytes: [UInt8], pixels: Int) -> [UInt16]? {
        guard bytes.count == pixels * bytesPerPixel else { return nil }
        return bytes.withUnsafeBufferPointer { map in
            switch self {
            case .uint8:
                return (0..<pixels).map { Self.byteValue(map, $0) }
            case .float16:
                return HalfFloat.fixedTable.withUnsafeBufferPointer { table in (0..<pixels).map { Self.halfValue(map, $0, table) } }
            }
        }
    }

    /// Pixel `i` of a uint8 map in fixed point: the one decoding of such maps (the
    /// stitcher's too).
    @inline(__always)
    static func byteValue(_ map: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt16 { Probability.fromByte(map[i]) }

    /// Pixel `i` of a float16 map in fixed point, through `HalfFloat.fixedTable`: the one
    /// decoding of such maps (the stitcher's too).
    @inline(__always)
    static func halfValue(_ map: UnsafeBufferPointer<UInt8>, _ i: Int, _ table: UnsafeBufferPointer<UInt16>) -> UInt16 {
        table[Int(UInt16(map[2 &* i]) | UInt16(map[2 &* i &+ 1]) &<< 8)]
    }
}

extension MapEncoding {
    /// One member's map of a tile as it travels and is blended: `flips` predicted and
    /// averaged (at the member's scale, when `scale` resamples), the `inset` border cropped,
    /// then encoded. Workers and `infer` both call this.
    public func prediction(
        of tile: PixelImage, by predictor: TilePredictor, flips: FlipSet, inset: Int,
        scale: TileScale? = nil
    ) throws -> [UInt8] {
        let scale = scale ?? .native(tile.width)
        let map = try scale.map(of: tile) { try flips.predict($0, with: predictor) }
        return encode(map, size: scale.mapSide, inset: inset)
    }
}
