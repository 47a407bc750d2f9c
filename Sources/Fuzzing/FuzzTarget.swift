import Core
import Foundation
import Shared

/// What can be fuzzed: the wire codec, and each handler behind it.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `WireCodec`: decoding, validation and the encode/decode round trip.
    case codec
    /// A worker's link to its coordinator (`WorkerLink`).
    case worker
    /// A coordinator's worker and client handlers, in process.
    case coordinator
    /// A client's handling of what the coordinator sends (`ClientSession`).
    case client
    /// A ring member's handling of what comes on its ring socket (`RingAllReduce.verdict`).
    case ring

    /// Runs one input; traps (and so stops the process) on a finding.
    public func run(_ bytes: [UInt8]) {
        let input = FuzzInput(bytes: bytes)
        switch self {
        case .codec: CodecTarget.run(input)
        case .worker: WorkerLinkTarget.run(input)
        case .coordinator: CoordinatorTarget.run(input)
        case .client: ClientTarget.run(input)
        case .ring: RingTarget.run(input)
        }
    }

    /// Sets up what the target needs (files, logging); call once before `run`. Logs are
    /// silenced unless TESSERA_FUZZ_LOG is set (to follow one input through a handler).
    public func prepare() throws {
        Log.silenced = ProcessInfo.processInfo.environment["TESSERA_FUZZ_LOG"] == nil
        if self == .coordinator { try CoordinatorTarget.prepare() }
    }

    /// Valid inputs: every kind of message the target takes, in the orders a real peer
    /// sends them, as the fuzzers' starting corpus.
    public func seeds() throws -> [[UInt8]] {
        try FuzzSeeds.inputs(for: self).map(\.bytes)
    }
}

/// A finding: stops the process (a trap), so that the fuzzer keeps the input that caused it.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz finding: \(message())") }
}
