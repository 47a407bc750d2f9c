import Foundation
import Testing

@testable import Engine

/// The training pass's reductions whose order is part of their result: each sums exactly
/// as its documentation says (so a rewrite that changes the bits fails here, not only in a
/// golden), and close to the exact sum.
@Suite struct FixedOrderSumTests {
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(sin(Double($0 * 7 + seed)) * 3 + 0.25) }
    }

    @Test func depthwiseRowDotsSumInSixteenThenFourThenOneLanes() {
        for count in 0...70 {
            let a = Self.values(count, seed: 1), b = Self.values(2 * count, seed: 2)
            // The documented order, one value at a time.
            var lanes = [Float](repeating: 0, count: 16), i = 0
            while i + 16 <= count {
                for j in 0..<16 { lanes[j] += a[i + j] * b[i + j] }
                i += 16
            }
            var four = [Float](repeating: 0, count: 4)
            for j in 0..<4 {
                let low: Float = lanes[j] + lanes[j + 8], high: Float = lanes[j + 4] + lanes[j + 12]
                four[j] = low + high
            }
            while i + 4 <= count {
                for j in 0..<4 { four[j] += a[i + j] * b[i + j] }
                i += 4
            }
            var expected = (four[0] + four[2]) + (four[1] + four[3])
            while i < count {
                expected += a[i] * b[i]
                i += 1
            }
            let dot = a.withUnsafeBufferPointer { x in
                b.withUnsafeBufferPointer { y in
                    DepthwiseConvolution.dot(
                        x.baseAddress ?? UnsafePointer(bitPattern: 16)!, y.baseAddress ?? UnsafePointer(bitPattern: 16)!, count: count, stride: 1)
                }
            }
            #expect(dot.bitPattern == expected.bitPattern, "count \(count)")
            let exact = (0..<count).reduce(0.0) { $0 + Double(a[$1]) * Double(b[$1]) }
            let magnitude = (0..<count).reduce(0.0) { $0 + abs(Double(a[$1]) * Double(b[$1])) }
            #expect(abs(Double(dot) - exact) <= 1e-5 * max(1, magnitude))
            var strided: Float = 0
            for k in 0..<count { strided += a[k] * b[2 * k] }
            let dot2 = a.withUnsafeBufferPointer { x in
                b.withUnsafeBufferPointer { y in
                    DepthwiseConvolution.dot(
                        x.baseAddress ?? UnsafePointer(bitPattern: 16)!, y.baseAddress ?? UnsafePointer(bitPattern: 16)!, count: count, stride: 2)
                }
            }
            #expect(dot2.bitPattern == strided.bitPattern, "count \(count), stride 2")
        }
    }

    @Test func doubleSumsRunInFourLanes() {
        for count in 0...11 {
            let terms = (0..<count).map { 1.0 + 1e-16 * Double($0 + 1) * 37 }
            var lanes = [0.0, 0.0, 0.0, 0.0]
            for i in 0..<(count / 4 * 4) { lanes[i % 4] += terms[i] }
            for i in (count / 4 * 4)..<count { lanes[0] += terms[i] }
            let expected = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
            #expect(DoubleSum.sum(count) { terms[$0] }.bitPattern == expected.bitPattern, "count \(count)")
            let pair = DoubleSum.sums(count) { (terms[$0], -2 * terms[$0]) }
            // Scaling every term by −2 scales each running sum exactly (−0 for no terms: compared as numbers).
            #expect(pair.0.bitPattern == expected.bitPattern && pair.1 == -2 * expected, "count \(count)")
        }
    }

    /// Sixteen at a time, each value rounded as alone: the same bits as the scalar loop.
    @Test func addScaledIsTheScalarLoop() {
        for count in [0, 5, 16, 33] {
            let x = Self.values(count, seed: 3)
            var y = Self.values(count, seed: 4), expected = y
            for i in 0..<count { expected[i] += 0.37 * x[i] }
            x.withUnsafeBufferPointer { source in
                y.withUnsafeMutableBufferPointer { target in
                    if count > 0 { DepthwiseConvolution.addScaled(0.37, source.baseAddress!, count: count, into: target.baseAddress!) }
                }
            }
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern))
        }
    }
}
