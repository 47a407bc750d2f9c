import Foundation
import Synchronization

private let stopRequested = Atomic<Bool>(false)

/// SIGINT and SIGTERM ask long-running loops to stop gracefully; they poll `requested`.
public enum StopSignal {
    /// Installs the handlers (idempotent).
    public static func install() {
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Whether a stop was asked for.
    public static var requested: Bool { stopRequested.load(ordering: .relaxed) }

    /// Asks for a stop from inside the process (tests, fatal errors).
    public static func request() { stopRequested.store(true, ordering: .relaxed) }
}
