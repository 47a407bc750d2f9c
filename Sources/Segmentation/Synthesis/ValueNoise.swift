import Core

/// Smooth value noise in [0, 1): random values on a lattice of spacing `scale`,
/// interpolated with a smoothstep. Used for tissue outlines and stain variation.

struct ValueNoise {
    let seed: UInt64
    let stream: UInt64
    let scale: Double

    @inline(__always)
    func callAsFunction(_ x: Double, _ y: Double) -> Double {
        let fx = x / scale, fy = y / scale
        let ix = Int(fx.rounded(.down)), iy = Int(fy.rounded(.down))
        var tx = fx - Double(ix), ty = fy - Double(iy)
        tx = tx * tx * (3 - 2 * tx)
        ty = ty * ty * (3 - 2 * ty)
        let a = Hash.unit(seed, stream, ix, iy), b = Hash.unit(seed, stream, ix + 1, iy)
        let c = Hash.unit(seed, stream, ix, iy + 1), d = Hash.unit(seed, stream, ix + 1, iy + 1)
        return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty
    }
}
