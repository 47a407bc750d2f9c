import Core

/// The Dice coefficient 2|A ∩ B| / (|A| + |B|), the competitions' metric, accumulated
/// from pixel counts so it can be computed band by band.
public struct Dice: Sendable, Equatable {
    public var intersection = 0
    public var countA = 0
    public var countB = 0

    public init() {}

    /// Counts a stretch of both masks (non-zero is foreground).
    public mutating func count(_ a: [UInt8], _ b: [UInt8]) {
        precondition(a.count == b.count)
        var both = 0, inA = 0, inB = 0
        for i in a.indices {
            let pa = a[i] != 0, pb = b[i] != 0
            if pa { inA += 1 }
            if pb { inB += 1 }
            if pa && pb { both += 1 }
        }
        intersection += both
        countA += inA
        countB += inB
    }

    /// The coefficient; two empty masks agree perfectly (1), as the competitions scored them.
    public var value: Double {
        countA + countB == 0 ? 1 : 2 * Double(intersection) / Double(countA + countB)
    }
}
