import Shared
import Training

/// A worker's ring is how its replica of a data-parallel run sums gradients with its peers.
extension RingAllReduce: ReplicaSum {
    public func sum(_ buffer: inout [Float], round: UInt64) throws { try allReduce(&buffer, round: round) }
}
