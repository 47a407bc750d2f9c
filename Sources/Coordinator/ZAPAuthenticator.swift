import Core
import Segmentation
import Shared
import ZeroMQ

/// Answers libzmq's ZAP requests (ZeroMQ RFC 27): a CURVE peer may connect to the
/// "workers" socket only with the configured worker key, to "clients" only with the
/// client key. Without such a handler libzmq would accept any CURVE client.
final class ZAPAuthenticator {
    let socket: ZMQSocket
    private let allowed: [String: String]
    private let log: Log

    /// Binds the handler; must exist before the CURVE sockets are bound.
    init(context: ZMQContext, security: ClusterConfig.Security, log: Log) throws {
        socket = try ZMQSocket(context: context, type: .rep)
        try socket.bind("inproc://zeromq.zap.01")
        allowed = ["workers": security.workerPublic, "clients": security.clientPublic]
        self.log = log
    }

    /// Answers one pending request.
    func answer() throws {
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
        try socket.send([Array("1.0".utf8), frames[1], Array((ok ? "200" : "400").utf8),
                         Array((ok ? "OK" : "key not authorised").utf8), [], []])
    }
}
