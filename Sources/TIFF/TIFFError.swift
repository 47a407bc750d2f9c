/// An error from libtiff, or from a check this wrapper makes before calling it.
///
/// The message names the file and carries libtiff's own words where libtiff gave any.
public struct TIFFError: Error, CustomStringConvertible, Sendable {
    /// The file the error is about.
    public let path: String
    /// What went wrong, in words a user can act on.
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
