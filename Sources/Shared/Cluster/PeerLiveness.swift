import Core
import Foundation

/// When to send a heartbeat to a peer and when to count it gone (docs/PROTOCOL.md,
/// "Worker link" 2): any message counts as a sign of life in either direction. A value type
/// driven by the caller's clock, so its rules are tested without sockets or sleeping.
public struct PeerLiveness: Sendable, Equatable {
    /// Seconds between heartbeats.
    public private(set) var interval: Double
    /// Heartbeats missed before the peer counts as gone.
    public private(set) var liveness: Int
    public private(set) var lastHeard: Date
    public private(set) var lastSent: Date

    public init(interval: Double, liveness: Int, now: Date) {
        self.interval = interval
        self.liveness = liveness
        lastHeard = now
        lastSent = now
    }

    /// New timing (a worker takes the coordinator's from `welcome`, already bounded by
    /// `WireLimits`).
    public mutating func retime(interval: Double, liveness: Int) {
        self.interval = interval
        self.liveness = liveness
    }

    public mutating func heard(at now: Date) {
        longestSilence = max(longestSilence, now.timeIntervalSince(lastHeard))
        lastHeard = now
    }
    public mutating func sent(at now: Date) { lastSent = now }

    /// Whether nothing has gone to the peer for an interval.
    public func heartbeatDue(at now: Date) -> Bool { now.timeIntervalSince(lastSent) >= interval }

    /// The longest silence of the peer seen so far, ended by a message (for metrics: how
    /// close a busy machine came to the window).
    public private(set) var longestSilence = 0.0

    /// Whether nothing has come from the peer for `interval × liveness` (or × `window`
    /// heartbeats, when given: a worker in a training run).
    public func peerSilent(at now: Date, window: Int? = nil) -> Bool {
        now.timeIntervalSince(lastHeard) > interval * Double(window ?? liveness)
    }

    /// Seconds since the peer was last heard.
    public func silence(at now: Date) -> Double { now.timeIntervalSince(lastHeard) }

    /// A fresh connection: both clocks start again.
    public mutating func restart(at now: Date) {
        longestSilence = 0
        lastHeard = now
        lastSent = now
    }
}
