import CZeroMQ

/// A ZeroMQ context: the I/O threads that serve every socket made from it.
///
/// Owned by this object and terminated in `deinit`; sockets keep their context alive.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Creates a context. The corresponding C function is `zmq_ctx_new`.
    public init() throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError("zmq_ctx_new") }
        self.handle = handle
    }

    deinit { zmq_ctx_term(handle) }

    /// Makes every blocking call on this context's sockets fail with `ETERM`: the way to
    /// stop threads that wait on sockets. The corresponding C function is `zmq_ctx_shutdown`.
    public func shutdown() { zmq_ctx_shutdown(handle) }

    /// The libzmq version, e.g. (4, 3, 4).
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether this libzmq supports a capability such as `"curve"` or `"ipc"`.
    public static func has(_ capability: String) -> Bool { zmq_has(capability) != 0 }
}
