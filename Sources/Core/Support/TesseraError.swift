/// An error a user sees: what it is about (a file, a line, an option) and why.
///
/// Messages are meant to be printed as they are: `"slide.tiff: not a TIFF file"`.
/// `code` says what kind of failure it is, for callers (and tests) that act on the kind
/// rather than on the words.
public struct TesseraError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Kinds of failure.
    public enum Code: String, Sendable, CaseIterable {
        /// A value outside what is accepted: an option, a setting, a batch.
        case invalid
        /// Something named is not there: a file, a member, a key, a column, an id.
        case notFound
        /// Bytes that are not what their format says: corrupt or truncated files, bad text.
        case malformed
        /// A format, encoding or feature this build does not handle.
        case unsupported
        /// Two things that must agree do not: sizes, shapes, digests, counts.
        case mismatch
        /// Reading, writing, binding or connecting failed.
        case io
        /// No answer in time.
        case timeout
        /// The coordinator or a peer refused or failed the work.
        case refused
        /// Training diverged (a loss or gradient stopped being finite).
        case diverged
        /// Stopped by a signal.
        case interrupted
    }

    /// The file, option or thing the error is about.
    public let subject: String
    /// Why it failed, in words a user can act on.
    public let reason: String
    public let code: Code

    public init(_ subject: String, _ reason: String, code: Code = .invalid) {
        self.subject = subject
        self.reason = reason
        self.code = code
    }

    public var description: String { subject.isEmpty ? reason : "\(subject): \(reason)" }
}
