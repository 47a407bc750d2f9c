import Core

/// IEEE 754 binary16 conversions done with integer operations: baseline x86-64 has no
/// F16C instructions, and the compiler's software routines cost ~10 ns a value, which at
/// 262,144 values a tile made half floats the cluster's bottleneck.
enum HalfFloat {
    /// The binary16 bits of `value`, rounded to nearest, ties to even (as `Float16(value)`).
    @inline(__always)
    static func bits(_ value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xFF)
        let mantissa = x & 0x7F_FFFF
        if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }  // inf, NaN
        let e = exponent - 127 + 15
        if e >= 31 { return sign | 0x7C00 }  // overflow to infinity
        if e <= 0 {
            // Subnormal half (or zero): shift the full significand into place, then round.
            if e < -10 { return sign }
            let significand = mantissa | 0x80_0000
            let shift = UInt32(14 - e)
            var half = UInt32(significand >> shift)
            let remainder = significand & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
            if remainder > halfway || (remainder == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e << 10) | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) { half += 1 }  // a carry into the exponent is right
        return sign | UInt16(half)
    }

    /// The binary16 bits of eight probabilities, clamped to [0, 1] (NaN to 0), rounded as
    /// `bits`: branch-free (after F. Giesen's float_to_half_fast3_rtne), so the workers'
    /// map encoding runs in SIMD registers.
    @inline(__always)
    static func probabilityBits(_ values: SIMD8<Float>) -> SIMD8<UInt16> {
        let p = Probability.clamped(values)
        let x = unsafeBitCast(p, to: SIMD8<UInt32>.self)
        // Normal halves: rebias the exponent, round the 13 dropped bits to nearest even.
        let odd = (x &>> 13) & 1
        var half = (x &+ (UInt32(bitPattern: Int32(15 - 127) << 23) &+ 0xFFF) &+ odd) &>> 13
        // Subnormal halves (below 2^-14): adding 0.5 makes the float unit round them.
        let magic = SIMD8<Float>(repeating: 0.5), magicBits = SIMD8<UInt32>(repeating: Float(0.5).bitPattern)
        let subnormal = unsafeBitCast(p + magic, to: SIMD8<UInt32>.self) &- magicBits
        // Compared as floats: SSE2 has no unsigned integer compare, and the compiler would go lane by lane.
        half.replace(with: subnormal, where: p .< Float(bitPattern: 113 << 23))
        return SIMD8<UInt16>(truncatingIfNeeded: half)
    }

    /// Fixed-point probability (`Probability.fixed`) of every binary16 bit pattern.
    static let fixedTable: [UInt16] = (0...0xFFFF).map { Probability.fixed(Float(Float16(bitPattern: UInt16($0)))) }
}
