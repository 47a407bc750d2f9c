import Foundation
import Synchronization

/// Busy threads, one per core, for as long as the value lives: a cluster test beside them
/// runs on a machine as loaded as a training node, and must still hold what the design
/// promises (docs/TRAINING.md, "Liveness under load"). `TESSERA_TEST_HOGS=0` turns them off.
public final class CPUHogs: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchGroup()
    public let count: Int

    public init(count: Int = ProcessInfo.processInfo.activeProcessorCount) {
        let wanted = ProcessInfo.processInfo.environment["TESSERA_TEST_HOGS"].flatMap(Int.init) ?? count
        self.count = max(0, wanted)
        for index in 0..<self.count {
            done.enter()
            let thread = Thread { [self] in
                var x: UInt64 = 0x9E37_79B9_7F4A_7C15
                while !stopped.load(ordering: .relaxed) {
                    for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                }
                if x == 42 { print("") }  // keeps the loop from being optimised away
                done.leave()
            }
            thread.name = "cpu hog \(index)"
            thread.start()
        }
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
        done.wait()
    }

    deinit { stop() }
}
