import Core
import ZeroMQ

/// Answers libzmq's ZAP requests (ZeroMQ RFC 27) in one ZeroMQ context: a CURVE peer may
/// connect to a socket of ZAP domain D only with the public key `allowed[D]`. Without such
/// a handler libzmq would accept any CURVE client that knows the server's key. The
/// coordinator admits the worker key to "workers" and the client key to "clients"; a ring
/// member admits the worker key to "ring".
public final class ZAPAuthenticator {
    public let socket: ZMQSocket
    private let allowed: [String: String]
    private let log: Log

    /// Binds the handler; must exist before the CURVE sockets are bound.
    public init(context: ZMQContext, allowed: [String: String], log: Log) throws {
        socket = try ZMQSocket(context: context, type: .rep)
        try socket.bind("inproc://zeromq.zap.01")
        self.allowed = allowed
        self.log = log
    }

    /// Answers one pending request.
    public func answer() throws {
        guard let frames = try socket.receive(dontWait: true) else { return }
        // version, request id, domain, address, routing id, mechanism, credentials...
        guard frames.count >= 6 else {
            try socket.send([Array("1.0".utf8), frames.count > 1 ? frames[1] : [], Array("500".utf8), Array("malformed".utf8), [], []])
            return
        }
        let domain = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        var ok = false
        if mechanism == "CURVE", frames.count >= 7, let key = Z85.encode(frames[6]), allowed[domain] == key {
            ok = true
        }
        if !ok { log.warning("refused a \(mechanism) connection from \(address) to \(domain): key not authorised") }
        try socket.send([
            Array("1.0".utf8), frames[1], Array((ok ? "200" : "400").utf8),
            Array((ok ? "OK" : "key not authorised").utf8), [], [],
        ])
    }
}
