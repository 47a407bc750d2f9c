import EngineKernels

/// A layer's weights as a GEMM's M × K matrix (a row of K = input channels × taps weights
/// per output channel) in `PointwiseGEMM`'s layout: blocks of `PointwiseGEMM.rowsPerBlock` rows, each k-major
/// with its rows side by side, rows past M zeros. A grouped layer's groups are packed one
/// after another, each its own M / groups rows (`groupCount` floats apart). Every value
/// is kept, so the plain weights can be had back.
struct PackedWeights {
    static let rowsPerBlock = PointwiseGEMM.rowsPerBlock
    let rows: Int
    let depth: Int
    let groups: Int
    private(set) var values: [Float]

    /// The floats an M × K matrix takes packed.
    static func count(rows: Int, depth: Int) -> Int { (rows + rowsPerBlock - 1) / rowsPerBlock * rowsPerBlock * depth }

    /// The floats one group's matrix takes.
    var groupCount: Int { Self.count(rows: rows / groups, depth: depth) }

    init(_ weight: [Float], rows: Int, depth: Int, groups: Int = 1) {
        precondition(weight.count == rows * depth && groups >= 1 && rows % groups == 0)
        self.rows = rows
        self.depth = depth
        self.groups = groups
        let r = Self.rowsPerBlock, perGroup = rows / groups, groupCount = Self.count(rows: perGroup, depth: depth)
        values = [Float](repeating: 0, count: groups * groupCount)
        values.withUnsafeMutableBufferPointer { packed in
            weight.withUnsafeBufferPointer { w in
                for row in 0..<rows {
                    let (group, inGroup) = row.quotientAndRemainder(dividingBy: perGroup)
                    let target = packed.baseAddress! + group * groupCount + inGroup / r * r * depth + inGroup % r
                    for k in 0..<depth { target[k * r] = w[row * depth + k] }
                }
            }
        }
    }

    /// The weights with column k scaled by `scale[k]` (a squeeze-excitation gate), in one
    /// pass into new storage: the same values as scaling the plain weights.
    func scaled(by scale: [Float]) -> PackedWeights {
        precondition(scale.count == depth && groups == 1)
        var copy = self
        copy.values = GateScaling.scaled(values, by: scale, run: Self.rowsPerBlock)
        return copy
    }

    /// The plain M × K weights.
    var unpacked: [Float] {
        let r = Self.rowsPerBlock, depth = depth, perGroup = rows / groups, groupCount = groupCount
        return [Float](unsafeUninitializedCapacity: rows * depth) { w, count in
            values.withUnsafeBufferPointer { packed in
                for row in 0..<rows {
                    let (group, inGroup) = row.quotientAndRemainder(dividingBy: perGroup)
                    let source = packed.baseAddress! + group * groupCount + inGroup / r * r * depth + inGroup % r
                    for k in 0..<depth { w.initializeElement(at: row * depth + k, to: source[k * r]) }
                }
            }
            count = rows * depth
        }
    }
}
