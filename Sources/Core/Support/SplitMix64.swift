/// SplitMix64 (Steele, Lea and Flood): a tiny, fast generator whose every value is a
/// pure function of the seed and position. Synthetic slides, deterministic weights and
/// tests draw from it, so Swift and the Python tools agree value for value.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The generator's output function applied to `z`.
    @inline(__always)
    public static func finalize(_ z: UInt64) -> UInt64 {
        var z = z
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finalize(state)
    }

    /// The next value in [-1, 1) with 24 bits: the top 24 bits over 2^23, minus one.
    @inline(__always)
    public mutating func nextSigned() -> Float {
        Float(next() >> 40) / Float(1 << 23) - 1
    }
}
