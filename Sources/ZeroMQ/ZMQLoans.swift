import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Memory lent to libzmq by zero-copy sends (`ZMQSocket.send(_:lending:to:)`): counts the
/// frames libzmq still holds, so that the lender knows when it may change or free that
/// memory again. libzmq hands a frame back on its I/O thread once the bytes are written to
/// the kernel, or when the socket holding it closes without lingering.
public final class ZMQLoans: Sendable {
    private let outstanding = Atomic<Int>(0)

    public init() {}

    /// Frames libzmq still holds.
    public var count: Int { outstanding.load(ordering: .acquiring) }

    /// One lent frame: counted while it lives (libzmq releases it when it gives the frame back).
    final class Loan {
        private let loans: ZMQLoans

        init(_ loans: ZMQLoans) {
            self.loans = loans
            loans.outstanding.add(1, ordering: .relaxed)
        }

        deinit { loans.outstanding.subtract(1, ordering: .releasing) }
    }

    /// Waits until every lent frame is back, at most `milliseconds` (nil: as long as it
    /// takes); whether all are back.
    public func waitForAll(milliseconds: Int?) -> Bool {
        let clock = ContinuousClock(), start = clock.now
        var pause: UInt32 = 10  // microseconds, doubling to 1 ms: the last frame is usually close
        while count > 0 {
            if let milliseconds, clock.now - start >= .milliseconds(milliseconds) { return false }
            usleep(pause)
            pause = min(pause * 2, 1000)
        }
        return true
    }
}
