import EngineKernels

/// A layer's weights as a GEMM's M × K matrix (a row of K = input channels × taps weights
/// per output channel) in `PointwiseGEMM`'s layout: blocks of `PointwiseGEMM.rowsPerBlock` rows, each k-major
/// with its rows side by side, rows past M zeros. Every value is kept, so the plain
/// weights can be had back.
struct PackedWeights {
    static let rowsPerBlock = PointwiseGEMM.rowsPerBlock
    let rows: Int
    let depth: Int
    private(set) var values: [Float]

    /// The floats an M × K matrix takes packed.
    static func count(rows: Int, depth: Int) -> Int { (rows + rowsPerBlock - 1) / rowsPerBlock * rowsPerBlock * depth }

    init(_ weight: [Float], rows: Int, depth: Int) {
        precondition(weight.count == rows * depth)
        self.rows = rows
        self.depth = depth
        let r = Self.rowsPerBlock
        values = [Float](repeating: 0, count: Self.count(rows: rows, depth: depth))
        values.withUnsafeMutableBufferPointer { packed in
            weight.withUnsafeBufferPointer { w in
                for row in 0..<rows {
                    let target = packed.baseAddress! + row / r * r * depth + row % r
                    for k in 0..<depth { target[k * r] = w[row * depth + k] }
                }
            }
        }
    }

    /// The weights with column k scaled by `scale[k]` (a squeeze-excitation gate), in one
    /// pass into new storage: the same values as scaling the plain weights.
    func scaled(by scale: [Float]) -> PackedWeights {
        precondition(scale.count == depth)
        var copy = self
        copy.values = GateScaling.scaled(values, by: scale, run: Self.rowsPerBlock)
        return copy
    }

    /// The plain M × K weights.
    var unpacked: [Float] {
        let r = Self.rowsPerBlock, depth = depth
        return [Float](unsafeUninitializedCapacity: rows * depth) { w, count in
            values.withUnsafeBufferPointer { packed in
                for row in 0..<rows {
                    let source = packed.baseAddress! + row / r * r * depth + row % r
                    for k in 0..<depth { w.initializeElement(at: row * depth + k, to: source[k * r]) }
                }
            }
            count = rows * depth
        }
    }
}
