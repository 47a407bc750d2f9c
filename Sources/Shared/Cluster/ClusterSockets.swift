import Core
import Tiling
import ZeroMQ

/// Makes the cluster's sockets configured alike: CURVE roles from `[security]`, message
/// size limits, no linger. Every process goes through here, so no socket is forgotten.
public enum ClusterSockets {
    /// The largest message part a coordinator accepts from a worker: a result of the
    /// configured tile, float16, or a frame of a training state, plus headers.
    public static func maxWorkerMessage(_ config: ClusterConfig) -> Int64 {
        Int64(max(config.settings.tileSize * config.settings.tileSize * 2, WireLimits.stateBytes) + 4096)
    }

    /// The largest message part a worker accepts: a tile of the configured side, or a frame of
    /// a training state.
    public static func maxCoordinatorMessage(_ config: ClusterConfig) -> Int64 {
        Int64(max(config.settings.tileSize * config.settings.tileSize * 3, WireLimits.stateBytes) + 4096)
    }

    /// The largest request the metrics socket accepts; a larger one makes libzmq drop the
    /// connection.
    public static let maxMetricsRequest: Int64 = 4096

    /// Upload and download chunk size.
    public static let chunkBytes = 1 << 20

    /// The coordinator's ROUTER for `domain` ("workers" or "clients"), bound.
    public static func coordinatorRouter(_ context: ZMQContext, config: ClusterConfig, endpoint: String, domain: String, maxMessage: Int64) throws -> ZMQSocket
    {
        let socket = try ZMQSocket(context: context, type: .router)
        try socket.setMaxMessageSize(maxMessage)
        try socket.setRouterMandatory()
        try socket.setRouterHandover()
        try socket.setHighWaterMarks(send: 10_000, receive: 10_000)
        if let security = config.security {
            guard let secret = security.coordinatorSecret else {
                throw TesseraError(config.source, "[security] has no coordinator_secret: the coordinator needs it to accept connections", code: .notFound)
            }
            try socket.setZAPDomain(domain)
            try socket.makeCurveServer(secretKey: secret)
        }
        do { try socket.bind(endpoint) } catch {
            throw TesseraError(endpoint, "cannot bind: \(error) (is another coordinator running?)", code: .io)
        }
        return socket
    }

    /// A DEALER connected to the coordinator, as a worker or a client; `routingID`, when
    /// given, is set before connecting (libzmq ignores one set after).
    public static func dealer(
        _ context: ZMQContext, config: ClusterConfig, endpoint: String, role: Role, maxMessage: Int64,
        routingID: [UInt8]? = nil
    ) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setMaxMessageSize(maxMessage)
        if let routingID { try socket.setRoutingID(routingID) }
        if let security = config.security {
            let (publicKey, secretKey) = role == .worker ? (security.workerPublic, security.workerSecret) : (security.clientPublic, security.clientSecret)
            guard let secretKey else {
                throw TesseraError(
                    config.source, "[security] has no \(role == .worker ? "worker" : "client")_secret: this machine cannot authenticate", code: .notFound)
            }
            try socket.makeCurveClient(serverKey: security.coordinatorPublic, publicKey: publicKey, secretKey: secretKey)
        }
        do { try socket.connect(endpoint) } catch {
            throw TesseraError(endpoint, "cannot connect: \(error)", code: .io)
        }
        return socket
    }

    public enum Role { case worker, client }

    /// What the coordinator's metrics socket at `endpoint` answers (Prometheus-style text,
    /// docs/PROTOCOL.md); throws when it does not answer within `timeoutMilliseconds`.
    public static func metrics(endpoint: String, timeoutMilliseconds: Int = 5000) throws -> String {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .req)
        try socket.connect(endpoint)
        try socket.send([[]])
        guard try ZMQPoller.pollIn([socket], timeoutMilliseconds: timeoutMilliseconds)[0],
            let reply = try socket.receive(dontWait: true)?.first
        else {
            throw TesseraError(endpoint, "the coordinator's metrics did not answer within \(timeoutMilliseconds / 1000) s", code: .timeout)
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
