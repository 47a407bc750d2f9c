/// An error a user sees: what it is about (a file, a line, an option) and why.
///
/// Messages are meant to be printed as they are: `"slide.tiff: not a TIFF file"`.
public struct TesseraError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file, option or thing the error is about.
    public let subject: String
    /// Why it failed, in words a user can act on.
    public let reason: String

    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { subject.isEmpty ? reason : "\(subject): \(reason)" }
}
