/// Who sends which part of a buffer to whom in a ring all-reduce (reduce-scatter, then
/// all-gather), as Horovod and NCCL run it: the pure schedule, tested without sockets.
///
/// N members in ring order each hold a buffer of `count` values; the buffer is cut into N
/// chunks (chunk c is `chunk(c)`). In step t of the reduce-scatter (t = 0 … N − 2) member r
/// sends chunk (r − t) mod N to member r + 1 and receives chunk (r − t − 1) mod N from
/// member r − 1, adding it to its own. Afterwards member r holds the whole sum of chunk
/// (r + 1) mod N, summed in ring order starting at the chunk's index: g_c + g_{c+1} + … .
/// In step t of the all-gather member r sends chunk (r + 1 − t) mod N and receives chunk
/// (r − t) mod N, which replaces its own. Every member ends with the same bits: each
/// chunk's sum is computed once, by its owner, and copied to the others.
///
/// A member sends 2(N − 1) chunks of count/N values: 2(N − 1)/N of the buffer, the least
/// any all-reduce can send, so its time tends to that volume over the links' bandwidth.
public struct RingPlan: Sendable, Equatable {
    public let members: Int
    public let rank: Int
    public let count: Int

    public init(members: Int, rank: Int, count: Int) {
        precondition(members >= 1 && (0..<members).contains(rank) && count >= 0, "a rank within the ring")
        self.members = members
        self.rank = rank
        self.count = count
    }

    /// The values of chunk c: near-equal parts, the first count mod N one longer.
    public func chunk(_ c: Int) -> Range<Int> {
        let base = count / members, extra = count % members
        let start = c * base + min(c, extra)
        return start..<(start + base + (c < extra ? 1 : 0))
    }

    /// Steps in each phase.
    public var steps: Int { members - 1 }

    /// The chunks member `rank` sends and receives in step t of the reduce-scatter.
    public func reduceScatter(step t: Int) -> (send: Int, receive: Int) {
        (mod(rank - t), mod(rank - t - 1))
    }

    /// The chunks member `rank` sends and receives in step t of the all-gather.
    public func allGather(step t: Int) -> (send: Int, receive: Int) {
        (mod(rank + 1 - t), mod(rank - t))
    }

    /// The chunk this member owns (holds summed) after the reduce-scatter.
    public var owned: Int { mod(rank + 1) }

    public var successor: Int { mod(rank + 1) }
    public var predecessor: Int { mod(rank - 1) }

    private func mod(_ value: Int) -> Int { ((value % members) + members) % members }
}
