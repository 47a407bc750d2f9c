import Core
import TestSupport
import Testing

@testable import Engine

/// The engine's own GEMM for 1×1 layers (`PointwiseGEMM`): the same bits from every fused
/// build, however the product is cut.
@Suite struct PointwiseGEMMTests {
    /// Each output as one chain of fused multiply-adds over k in order, from zero.
    static func reference(_ w: [Float], _ x: [Float], rows: Range<Int>, depth: Int, columns: Int, ldx: Int) -> [Float] {
        var c = [Float]()
        for row in rows {
            for j in 0..<columns {
                var sum: Float = 0
                for k in 0..<depth { sum = sum.addingProduct(w[row * depth + k], x[k * ldx + j]) }
                c.append(sum)
            }
        }
        return c
    }

    static var fusedBuilds: [KernelSet.Build] {
        (KernelSet.cpuHasAVX2AndFMA ? [.avx2] : []) + (KernelSet.cpuHasAVX512 ? [.avx512] : [])
    }

    /// Rows that end inside a block and inside a kernel's rows, columns that end inside a
    /// panel and span several groups, depths of 1 and of more than a group's worth.
    @Test(
        .enabled(if: KernelSet.cpuHasAVX2AndFMA, "this CPU runs no fused build"),
        arguments: [
            // (rows, depth, columns, ldx, first row)
            (40, 37, 70, 75, 0), (40, 37, 70, 70, 12), (13, 1, 33, 33, 0), (25, 300, 17, 20, 0), (7, 5, 600, 600, 0),
            // Last kernels of 8 and 4 rows (AVX-512) or 4 (AVX2), continuing past a depth slice.
            (20, 300, 40, 40, 0), (16, 200, 33, 33, 0), (64, 130, 64, 64, 12),
            // Thin: one or two rows read straight from x, past a 1024-column chunk.
            (1, 96, 1100, 1100, 0), (2, 5, 37, 40, 0), (14, 20, 50, 50, 12),
        ])
    func everyOutputIsOneFusedChainInOrder(shape: (Int, Int, Int, Int, Int)) {
        let (m, k, columns, ldx, first) = shape
        var values = Values(seed: UInt64(m * 100 + k))
        let w = values.array(m * k), x = values.array(k * ldx)
        let expected = Self.reference(w, x, rows: first..<m, depth: k, columns: columns, ldx: ldx)
        let packed = PackedWeights(w, rows: m, depth: k)
        for build in Self.fusedBuilds {
            var c = [Float](repeating: .nan, count: (m - first) * columns)
            var visits = [Int](repeating: 0, count: c.count), early = 0
            KernelBuildLock.switchingTheBuild {
                let saved = KernelSet.build
                defer { KernelSet.build = saved }
                KernelSet.build = build
                var scratch = [Float](repeating: 0, count: KernelSet.pointwiseScratchCount(depth: k))
                c.withUnsafeMutableBufferPointer { c in
                    KernelSet.multiplyPointwise(
                        packed: packed.values, depth: k, rows: first..<m, x: x, ldx: ldx, columns: columns, into: c.baseAddress!,
                        ldc: columns, scratch: &scratch
                    ) { rows, columnRange in
                        for row in rows {
                            for j in columnRange {
                                visits[row * columns + j] += 1
                                // Finished means final: the epilogue may read it now.
                                if c[row * columns + j].bitPattern != expected[row * columns + j].bitPattern { early += 1 }
                            }
                        }
                    }
                }
            }
            #expect(c.map(\.bitPattern) == expected.map(\.bitPattern), "\(build) on \(shape)")
            #expect(visits.allSatisfy { $0 == 1 } && early == 0, "\(build): each output is handed on once, when final")
        }
    }

    /// Packing keeps every value; scaling the packed weights gives the plain weights scaled.
    @Test func packedWeightsRoundTripAndScale() {
        var values = Values(seed: 5)
        let (m, k) = (29, 7)
        let w = values.array(m * k), scale = values.array(k)
        let packed = PackedWeights(w, rows: m, depth: k)
        #expect(packed.unpacked == w)
        #expect(packed.values.count == 36 * k)
        let scaled = (0..<(m * k)).map { w[$0] * scale[$0 % k] }
        #expect(packed.scaled(by: scale).unpacked == scaled)
        // A grouped layer's groups, each packed on its own.
        let plain = values.array(20 * k)
        let grouped = PackedWeights(plain, rows: 20, depth: k, groups: 4)
        #expect(grouped.groupCount == 12 * k && grouped.values.count == 4 * 12 * k)
        #expect(grouped.unpacked == plain)
        // Row 5 is group 1's first: weight k = 3 sits at 12·k + 3·12 of the packed values.
        #expect(grouped.values[12 * k + 3 * 12] == plain[5 * k + 3])
    }

    /// A layer that packed its weights still reads them back, runs on the baseline build
    /// (through OpenBLAS) and agrees with itself there.
    @Test(.enabled(if: KernelSet.cpuHasAVX2AndFMA, "this CPU runs no fused build"))
    func aPackedLayerKeepsItsWeightsAcrossBuilds() {
        var values = Values(seed: 9)
        let conv = Conv2d(inChannels: 30, outChannels: 29, kernel: 1, activation: .swish)
        let weight = values.array(conv.weight.count)
        conv.weight = weight
        conv.bias = values.array(29)
        let x = Tensor(channels: 30, height: 9, width: 13, data: values.array(30 * 9 * 13))
        let maps = KernelBuildLock.switchingTheBuild {
            let saved = KernelSet.build
            defer { KernelSet.build = saved }
            return [KernelSet.Build.avx2, .baseline, .avx2].map { build in
                KernelSet.build = build
                return conv(x)
            }
        }
        #expect(conv.weight == weight)
        #expect(relativeError(maps[1].data, maps[0].data) < 2e-6)
        #expect(maps[2].data == maps[0].data)
    }

    /// The engine's GEMM is cut into tasks that cover every output once, start rows on
    /// the packed weights' blocks, and come out near-equal where the shape allows: the
    /// deep 1×1 layers of EfficientNet-b5 that had left a thread idle (three column blocks,
    /// row blocks of 96, 96, 96 and 16) now split evenly.
    @Test(arguments: [
        // (rows, columns, depth, tasks expected, even)
        (176, 1024, 1056, 8, true), (304, 256, 1824, 8, true), (512, 256, 3072, 8, true), (1056, 1024, 176, 4, true),
        (40, 16384, 240, 8, true), (29, 70, 30, 2, false), (7, 5, 3, 1, true),
    ])
    func theEnginesGEMMSplitsEvenly(shape: (Int, Int, Int, Int, Bool)) {
        let (rows, columns, depth, expected, even) = shape
        let split = GEMMSplit.packed(rows: rows, columns: columns, depth: depth, groups: 1)
        var covered = [Int](repeating: 0, count: rows * columns)
        var sizes: [Int] = []
        for task in 0..<split.count {
            let (group, taskRows, taskColumns) = split.task(task)
            #expect(group == 0 && taskRows.lowerBound % PackedWeights.rowsPerBlock == 0)
            for row in taskRows { for column in taskColumns { covered[row * columns + column] += 1 } }
            sizes.append(taskRows.count * taskColumns.count)
        }
        #expect(covered.allSatisfy { $0 == 1 }, "\(shape): every output in one task")
        #expect(split.count == expected, "\(shape): \(split.count) tasks")
        if even { #expect(Set(sizes).count == 1, "\(shape): tasks of \(sizes)") }
    }
}
