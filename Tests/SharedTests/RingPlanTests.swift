import Testing

@testable import Shared

/// The ring schedule, simulated without sockets: every member ends with every chunk's
/// sum, summed in the documented order, and each step's message is the one its receiver
/// expects.
@Suite struct RingPlanTests {
    /// Runs the schedule on exact per-member values and returns each member's buffer; each
    /// value records (as a list) which members' values were summed, in order.
    static func simulate(members: Int, count: Int) -> [[[Int]]] {
        let plans = (0..<members).map { RingPlan(members: members, rank: $0, count: count) }
        var buffers = (0..<members).map { r in [[Int]](repeating: [r], count: count) }
        for t in 0..<(members - 1) {
            let sent = plans.map { plan in (plan.reduceScatter(step: t).send, plan.chunk(plan.reduceScatter(step: t).send).map { buffers[plan.rank][$0] }) }
            for plan in plans {
                let (chunk, values) = sent[plan.predecessor]
                #expect(chunk == plan.reduceScatter(step: t).receive)
                for (i, value) in zip(plan.chunk(chunk), values) { buffers[plan.rank][i] = value + buffers[plan.rank][i] }
            }
        }
        for t in 0..<(members - 1) {
            let sent = plans.map { plan in (plan.allGather(step: t).send, plan.chunk(plan.allGather(step: t).send).map { buffers[plan.rank][$0] }) }
            for plan in plans {
                let (chunk, values) = sent[plan.predecessor]
                #expect(chunk == plan.allGather(step: t).receive)
                for (i, value) in zip(plan.chunk(chunk), values) { buffers[plan.rank][i] = value }
            }
        }
        return buffers
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func everyMemberEndsWithEverySumInRingOrder(members: Int) {
        let count = 3 * members + 2
        let buffers = Self.simulate(members: members, count: count)
        let plan = RingPlan(members: members, rank: 0, count: count)
        for c in 0..<members {
            let order = (0..<members).map { (c + $0) % members }
            for i in plan.chunk(c) { #expect(buffers.allSatisfy { $0[i] == order }, "chunk \(c): \(buffers.map { $0[i] })") }
        }
    }

    @Test func chunksCoverTheBufferOnce() {
        for (members, count) in [(3, 10), (4, 2), (5, 0), (2, 7)] {
            let plan = RingPlan(members: members, rank: 0, count: count)
            let ranges = (0..<members).map(plan.chunk)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.map(\.count).max()! - ranges.map(\.count).min()! <= 1)
        }
    }
}
