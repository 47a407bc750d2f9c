import Core
import Shared

/// What a client session asks its driver to do (`ClusterClient` moves the bytes): the same
/// for a slide job, whose file is its mask, and for a training run, whose file is its model.
package enum ClientAction<Progress: Equatable, Outcome: Equatable>: Equatable {
    case send([[UInt8]])
    /// Send `size` bytes of the slide from `offset` as a chunk of `job`'s slide.
    case upload(job: UInt64, offset: UInt64, size: UInt64)
    /// Start the file: a partial file beside its path.
    case createFile
    case write([UInt8], at: UInt64)
    /// The file is whole: move it into place.
    case commitFile
    /// The coordinator accepted the job (the first time only).
    case accepted(UInt64)
    case progress(Progress)
    /// Everything wanted has arrived.
    case done(Outcome)
}

/// What both sessions do alike with the coordinator's answers about their job: take its
/// acceptance, and end on its failure or on an error.
package struct JobAcceptance {
    package private(set) var job: UInt64?
    package private(set) var acceptedOnce = false

    package init(job: UInt64?) { self.job = job }

    /// An `accepted` body: nil when it is not this session's job; otherwise whether it is the
    /// first acceptance.
    package mutating func accept(_ body: [UInt8]) -> Bool? {
        guard case .success(let message) = WireCodec.decode(Wire.Accepted.self, body), job == nil || message.job == job else { return nil }
        let first = !acceptedOnce
        acceptedOnce = true
        job = message.job
        return first
    }

    /// The error that ends the session on a `failed` of its job (`noun`: "job", "training
    /// run") or on an `error`; nil when the message is not for it.
    package func ending(_ kind: WireKind, _ body: [UInt8], noun: String) -> TesseraError? {
        switch kind {
        case .failed:
            guard case .success(let failed) = WireCodec.decode(Wire.Failed.self, body), failed.job == job else { return nil }
            return TesseraError("\(noun) \(failed.job)", "failed: \(failed.reason)", code: .refused)
        case .error:
            guard case .success(let error) = WireCodec.decode(Wire.Reason.self, body) else { return nil }
            return TesseraError("coordinator", error.reason, code: .refused)
        default:
            return nil
        }
    }
}
