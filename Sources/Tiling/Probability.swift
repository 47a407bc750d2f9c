import Core

/// Probabilities in fixed point: 0...65535 stands for 0...1.
///
/// The stitcher works on these integers so that its sums are exact; maps travel as them
/// (or as 8-bit values, `fromByte`) and masks are cut from them.
public enum Probability {
    /// 1.0 in fixed point.
    public static let one: UInt16 = 65535

    /// A float probability in fixed point, clamped to [0, 1]; NaN counts as 0.
    @inlinable
    public static func fixed(_ p: Float) -> UInt16 {
        guard p > 0 else { return 0 }
        guard p < 1 else { return one }
        return UInt16((p * 65535).rounded())
    }

    /// An 8-bit probability (0...255) in fixed point, exactly (255 × 257 = 65535).
    @inlinable
    public static func fromByte(_ b: UInt8) -> UInt16 { UInt16(b) &* 257 }

    /// A fixed-point probability as 8 bits, rounded to nearest.
    @inlinable
    public static func toByte(_ p: UInt16) -> UInt8 { UInt8((UInt32(p) * 255 + 32767) / 65535) }

    /// Eight probabilities clamped to [0, 1], NaN to 0 (as `fixed` takes them).
    @inline(__always)
    static func clamped(_ values: SIMD8<Float>) -> SIMD8<Float> {
        var p = values.replacing(with: 0, where: .!(values .> 0))
        p.replace(with: 1, where: p .> 1)
        return p
    }

    /// `toByte(fixed(p))` of eight probabilities, computed in SIMD registers (workers encode
    /// every map this way): each step is exact in Float, so the bytes are the scalar ones.
    @inline(__always)
    static func bytes(_ values: SIMD8<Float>) -> SIMD8<UInt8> {
        let x = clamped(values) * 65535
        // Nearest, ties to even, by the 2²³ trick; then ties away from zero, as `rounded()`.
        let magic = SIMD8<Float>(repeating: 8_388_608)
        var q = (x + magic) - magic
        q.replace(with: q + 1, where: x - q .== 0.5)
        // ⌊(255·q + 32767) / 65535⌋: estimated by a multiplication, then corrected (n < 2²⁴).
        let n = q * 255 + 32767
        var b = (n * (1 / 65535) + magic) - magic
        b.replace(with: b - 1, where: b * 65535 .> n)
        b.replace(with: b + 1, where: (b + 1) * 65535 .<= n)
        // b + 2²³ holds b in its low mantissa bits.
        return SIMD8<UInt8>(truncatingIfNeeded: unsafeBitCast(b + magic, to: SIMD8<UInt32>.self))
    }

    /// The fixed-point threshold for a float threshold in [0, 1]: a pixel is in the mask
    /// when its fixed-point probability is at least this.
    public static func threshold(_ t: Double) -> UInt16 {
        UInt16((min(max(t, 0), 1) * 65535).rounded())
    }
}
