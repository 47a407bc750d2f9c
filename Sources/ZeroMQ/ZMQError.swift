import CZeroMQ

/// An error libzmq reported: the C function that failed, its errno and libzmq's text.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    /// The libzmq function that failed, e.g. `zmq_bind`.
    public let function: String
    /// The errno value (`zmq_errno()`).
    public let code: Int32

    /// Captures the current `zmq_errno()` for `function`.
    init(_ function: String) {
        self.function = function
        self.code = zmq_errno()
    }

    /// Whether the call only timed out or would have blocked (EAGAIN).
    public var wouldBlock: Bool { code == EAGAIN }

    /// Whether the context was terminated under the call.
    public var contextTerminated: Bool { code == ETERM }

    public var description: String { "\(function): \(String(cString: zmq_strerror(code)))" }
}
