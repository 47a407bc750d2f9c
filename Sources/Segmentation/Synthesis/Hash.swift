import Core

/// Stateless pseudo-random numbers: a SplitMix64 finaliser over a seed and coordinates,
/// so any pixel or grid cell of a synthetic slide is computed alone, in any order.

struct Hash {
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        SplitMix64.finalize(value &+ 0x9E37_79B9_7F4A_7C15)
    }

    /// A 64-bit hash of a seed, a stream name and two coordinates.
    @inline(__always)
    static func bits(_ seed: UInt64, _ stream: UInt64, _ a: Int, _ b: Int) -> UInt64 {
        mix(mix(mix(seed ^ (stream &* 0xD6E8_FEB8_6659_FD93)) ^ UInt64(bitPattern: Int64(a))) ^ UInt64(bitPattern: Int64(b)))
    }

    /// A uniform number in [0, 1).
    @inline(__always)
    static func unit(_ seed: UInt64, _ stream: UInt64, _ a: Int, _ b: Int) -> Double {
        Double(bits(seed, stream, a, b) >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}
