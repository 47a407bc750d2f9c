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

    /// The fixed-point threshold for a float threshold in [0, 1]: a pixel is in the mask
    /// when its fixed-point probability is at least this.
    public static func threshold(_ t: Double) -> UInt16 {
        UInt16((min(max(t, 0), 1) * 65535).rounded())
    }
}
