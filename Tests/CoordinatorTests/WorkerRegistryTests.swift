import Core
import Foundation
import Shared
import Testing

@testable import Coordinator

@Suite struct WorkerRegistryTests {
    @Test func workersOfAMemberAreServedLeastRecentlyUsedFirstWithinCredit() {
        var registry = WorkerRegistry(credit: 2, pinnedDigests: [:])
        let t0 = Date()
        #expect(registry.register(identity: [1], name: "a", member: 0, digest: "d", threads: 2, now: t0) == nil)
        #expect(registry.register(identity: [2], name: "b", member: 0, digest: "d", threads: 2, now: t0) == nil)
        #expect(registry.register(identity: [3], name: "c", member: 1, digest: "e", threads: 2, now: t0) == nil)
        var order: [[UInt8]] = []
        for request in UInt64(1)...4 {
            let worker = registry.nextWorker(for: 0)!
            order.append(worker)
            registry.assign(request, to: worker, at: t0.addingTimeInterval(Double(request)))
        }
        #expect(Set(order.prefix(2)) == [[1], [2]] && order[2] == order[0] && order[3] == order[1])
        #expect(registry.nextWorker(for: 0) == nil)  // both out of credit
        let completed = registry.complete(3, by: order[2])
        let again = registry.complete(3, by: order[2])
        #expect(completed && !again)  // only once
        #expect(registry.nextWorker(for: 0) == order[2])
        #expect(registry.nextWorker(for: 1) == [3])
    }

    /// A worker in a training run counts as gone only after the training window, and its
    /// longest silence so far is kept (for the metrics).
    @Test func aTrainingWorkerHasTheTrainingWindow() {
        var registry = WorkerRegistry(credit: 2, pinnedDigests: [:], interval: 1, liveness: 3, trainingLiveness: 10)
        let t0 = Date()
        _ = registry.register(identity: [1], name: "tiles", member: 0, digest: "d", threads: 1, now: t0)
        _ = registry.register(identity: [2], name: "training", member: 0, digest: "d", threads: 1, now: t0)
        registry.setTraining([2], 1)
        #expect(registry.silent(at: t0 + 3.5) == [[1]])
        #expect(registry.silent(at: t0 + 9.9) == [[1]])
        #expect(Set(registry.silent(at: t0 + 10.1)) == [[1], [2]])
        registry.heard([2], at: t0 + 7)
        registry.heard([2], at: t0 + 8)
        #expect(registry.workers[[2]]!.liveness.longestSilence == 7)
    }

    @Test func aLostWorkerGivesBackItsTilesAndDigestsMustAgree() {
        var registry = WorkerRegistry(credit: 4, pinnedDigests: [1: "pinned"])
        let now = Date()
        _ = registry.register(identity: [1], name: "a", member: 0, digest: "d1", threads: 1, now: now)
        #expect(registry.register(identity: [2], name: "b", member: 0, digest: "d2", threads: 1, now: now)?.contains("differs") == true)
        #expect(registry.register(identity: [3], name: "c", member: 1, digest: "other", threads: 1, now: now)?.contains("pinned") == true)
        registry.assign(10, to: [1], at: now)
        registry.assign(11, to: [1], at: now)
        // Silent past interval × liveness (1 s × 3 by default).
        #expect(registry.silent(at: now.addingTimeInterval(3)).isEmpty)
        #expect(registry.silent(at: now.addingTimeInterval(3.01)) == [[1]])
        #expect(registry.remove([1]) == [10, 11])
        #expect(registry.count(of: 0) == 0)
    }

    @Test func workersOfOneMemberRunningOtherKernelsAreNoticed() throws {
        var registry = WorkerRegistry(credit: 1, pinnedDigests: [:])
        let now = Date()
        _ = registry.register(identity: [1], name: "a", member: 0, digest: "d", threads: 1, kernels: "AVX2, OpenBLAS Haswell", now: now)
        _ = registry.register(identity: [2], name: "b", member: 0, digest: "d", threads: 1, now: now)  // an older worker: unknown
        _ = registry.register(identity: [3], name: "c", member: 1, digest: "e", threads: 1, kernels: "baseline, OpenBLAS Prescott", now: now)
        #expect(registry.otherKernels(of: 0, than: "AVX2, OpenBLAS Haswell").isEmpty)
        #expect(registry.otherKernels(of: 0, than: "baseline, OpenBLAS Prescott") == ["AVX2, OpenBLAS Haswell"])
        #expect(registry.otherKernels(of: 1, than: "AVX2, OpenBLAS Haswell") == ["baseline, OpenBLAS Prescott"])
        // A register without the optional field still decodes.
        let old =
            #"{"protocolVersion":3,"member":"m","architecture":"constant","weightsDigest":"","threads":2,"name":"w","tileSides":{"multiple":1,"minimum":16,"maximum":64}}"#
        let decoded = try JSONDecoder().decode(Wire.Register.self, from: Data(old.utf8))
        #expect(decoded.kernels == nil && decoded.member == "m")
    }
}
