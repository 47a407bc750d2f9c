import Core
import Testing

@testable import Tiling

@Suite struct HalfFloatTests {
    /// The integer conversion agrees with the compiler's Float16 on every kind of value.
    @Test func bitsMatchFloat16Everywhere() {
        var generator = SplitMix64(seed: 1)
        var values: [Float] = [
            0, -0, 1, 0.5, 65504, 65520, 1e-8, 5.9604645e-08, 2.9802322e-08, 6.1035156e-05, 6.097555e-05, .infinity, -.infinity, 0.333_333_34,
        ]
        for _ in 0..<200_000 {
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())))
            values.append(Float(generator.next() % 1_000_001) / 1_000_000)
        }
        var mismatches = 0
        for value in values where !value.isNaN {
            if HalfFloat.bits(value) != Float16(value).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(Float16(bitPattern: HalfFloat.bits(.nan)).isNaN)
    }

    /// The uint8 encoding's vector path gives the scalar bytes on every 61st float of [0, 1],
    /// which include the rounding ties and every byte's boundaries, and on values outside it.
    @Test func vectorProbabilityBytesMatchTheScalarConversion() {
        func expected(_ p: Float) -> UInt8 { Probability.toByte(Probability.fixed(p)) }
        var mismatches = 0
        var batch = SIMD8<Float>()
        var lane = 0
        let specials: [Float] = [-1, -0, .nan, .infinity, -.infinity, 1.0000001, 2, 0.5 / 65535, 1.5 / 65535, 2.5 / 65535]
        for pattern in stride(from: UInt32(0), through: Float(1).bitPattern, by: 61) + specials.map(\.bitPattern) {
            batch[lane] = Float(bitPattern: pattern)
            lane += 1
            if lane == 8 {
                let bytes = Probability.bytes(batch)
                for i in 0..<8 where bytes[i] != expected(batch[i]) { mismatches += 1 }
                lane = 0
            }
        }
        #expect(mismatches == 0)
        let values: [Float] = (0..<1003).map { Float($0) / 1002 } + [.nan, -3, 7]
        #expect(MapEncoding.uint8.encode(values) == values.map(expected))
    }

    /// The workers' vector path agrees with the clamped scalar conversion on every 61st
    /// float of [0, 1] (which includes every subnormal half boundary and tie kind), and on
    /// values outside it.
    @Test func vectorProbabilityBitsMatchTheScalarConversion() {
        func expected(_ p: Float) -> UInt16 { HalfFloat.bits(p > 0 ? min(p, 1) : 0) }
        var mismatches = 0
        var batch = SIMD8<Float>()
        var lane = 0
        func check() {
            let bits = HalfFloat.probabilityBits(batch)
            for i in 0..<8 where bits[i] != expected(batch[i]) { mismatches += 1 }
        }
        let specials: [Float] = [-1, -0, .nan, .infinity, -.infinity, 1.0000001, 2, 65520, 1e30, .leastNonzeroMagnitude]
        for pattern in stride(from: UInt32(0), through: Float(1).bitPattern, by: 61) + specials.map(\.bitPattern) {
            batch[lane] = Float(bitPattern: pattern)
            lane += 1
            if lane == 8 { check(); lane = 0 }
        }
        #expect(mismatches == 0)
        // Through the encoder, including a tail shorter than a vector.
        let values: [Float] = (0..<1003).map { Float($0) / 1002 } + [.nan, -3, 7]
        let encoded = MapEncoding.float16.encode(values)
        let halves = (0..<values.count).map { UInt16(encoded[2 * $0]) | UInt16(encoded[2 * $0 + 1]) << 8 }
        #expect(halves == values.map(expected))
    }

}
