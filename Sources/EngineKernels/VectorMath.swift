/// Element-wise math on SIMD8 vectors, written so it compiles to packed instructions on
/// baseline x86-64 (SSE2) as well as wider targets: rounding by the 1.5·2²³ trick and 2ⁿ
/// by shifting integer bits, with no per-lane library calls.
enum VectorMath {
    /// e^x, relative error about 2e-7 over the float range; saturates below −87 and above 88.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var x = x
        x.replace(with: SIMD8(repeating: 88), where: x .> 88)
        x.replace(with: SIMD8(repeating: -87), where: x .< -87)
        // x = n·ln2 + f with n = round(x / ln2): adding 1.5·2²³ rounds to an integer and
        // leaves n in the low mantissa bits.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = madd(x, SIMD8(repeating: 1.442_695_040_888_963_4), magic)
        let n = shifted - magic
        let f = madd(n, SIMD8(repeating: 2.121_944_4e-4), madd(n, SIMD8(repeating: -0.693_359_375), x))
        // Cephes' minimax polynomial for e^f on [−ln2/2, ln2/2].
        var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
        p = madd(p, f, SIMD8(repeating: 1.398_199_950_7e-3))
        p = madd(p, f, SIMD8(repeating: 8.333_451_907_3e-3))
        p = madd(p, f, SIMD8(repeating: 4.166_579_589_4e-2))
        p = madd(p, f, SIMD8(repeating: 1.666_666_545_9e-1))
        p = madd(p, f, SIMD8(repeating: 5.000_000_120_1e-1))
        p = madd(p, f * f, f) + 1
        // 2ⁿ: the low bits of `shifted` hold n (its high bits shift out).
        let twoToN = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &+ 127) &<< 23
        return p * unsafeBitCast(twoToN, to: SIMD8<Float>.self)
    }

    /// a·b + c: one fused multiply-add in the AVX2 build (compiled with `TESSERA_FMA`), a
    /// multiply and an add in the baseline build, for CPUs without FMA. Fused is twice the
    /// rate here and rounds once, so the two builds differ in the last bits (docs/ENGINE.md).
    @inline(__always)
    static func madd(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
        #if TESSERA_FMA
        return c.addingProduct(a, b)
        #else
        return a * b + c
        #endif
    }

    /// x · sigmoid(x), efficientnet_pytorch's memory-efficient swish.
    @inline(__always)
    static func swish(_ x: SIMD8<Float>) -> SIMD8<Float> { x / (1 + exp(-x)) }

    /// 1 / (1 + e^−x).
    @inline(__always)
    static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp(-x)) }

    /// Applies `vector` to `values` in place, eight at a time; the tail goes through it
    /// zero-padded.
    @inline(__always)
    static func map(_ values: UnsafeMutablePointer<Float>, count: Int,
                           _ vector: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        while i + 8 <= count {
            let raw = UnsafeMutableRawPointer(values + i)
            raw.storeBytes(of: vector(raw.loadUnaligned(as: SIMD8<Float>.self)), as: SIMD8<Float>.self)
            i += 8
        }
        if i < count {
            var tail = SIMD8<Float>()
            for j in 0..<(count - i) { tail[j] = values[i + j] }
            tail = vector(tail)
            for j in 0..<(count - i) { values[i + j] = tail[j] }
        }
    }
}
