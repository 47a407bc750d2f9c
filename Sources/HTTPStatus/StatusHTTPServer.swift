import Core
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The coordinator's HTTP endpoint, on SwiftNIO's HTTP/1 pipeline (three GET routes need no
/// framework; Hummingbird would bring its router, middleware and service lifecycle for them):
/// - `GET /metrics`: the Prometheus text of every metric (text/plain; version=0.0.4);
/// - `GET /status.json`: the cluster as the status page draws it (docs/OPERATIONS.md);
/// - `GET /`: the status page itself.
/// With a token, every request must carry `Authorization: Bearer TOKEN` or `?token=TOKEN`;
/// others get 401. The routes are called on NIO's threads and must be thread-safe.
public final class StatusHTTPServer: @unchecked Sendable {
    public struct Routes: Sendable {
        public var metrics: @Sendable () -> String
        public var status: @Sendable () -> [UInt8]
        public init(metrics: @escaping @Sendable () -> String, status: @escaping @Sendable () -> [UInt8]) {
            self.metrics = metrics
            self.status = status
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// Where it listens, e.g. "http://127.0.0.1:8080/" (the port the system chose for port 0).
    public let address: String

    public init(host: String, port: Int, token: String?, routes: Routes) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(RequestHandler(token: token, routes: routes))
                }
            }
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 1)
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw TesseraError("[http] listen \(host):\(port)", "cannot listen: \(error)", code: .io)
        }
        let bound = channel.localAddress?.port ?? port
        address = "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/"
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// One connection's requests, answered in order.
private final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let token: String?
    private let routes: StatusHTTPServer.Routes
    private var head: HTTPRequestHead?

    init(token: String?, routes: StatusHTTPServer.Routes) {
        self.token = token
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break  // GET only: a body is ignored
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, type, body) = answer(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(body.count)")
            headers.add(name: "Cache-Control", value: "no-store")
            if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"tessera\"") }
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: body.count)
                buffer.writeBytes(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive { done.whenComplete { [context] _ in context.close(promise: nil) } }
        }
    }

    /// Status, content type and body of a request.
    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("GET only\n".utf8))
        }
        if let token, !authorised(head, query: parts.count > 1 ? String(parts[1]) : "", token: token) {
            return (.unauthorized, "text/plain; charset=utf-8", Array("a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n".utf8))
        }
        switch path {
        case "/metrics": return (.ok, "text/plain; version=0.0.4; charset=utf-8", Array(routes.metrics().utf8))
        case "/status.json": return (.ok, "application/json", routes.status())
        case "/", "/index.html": return (.ok, "text/html; charset=utf-8", Array(StatusPage.html.utf8))
        default: return (.notFound, "text/plain; charset=utf-8", Array("no such page: /, /metrics and /status.json are\n".utf8))
        }
    }

    private func authorised(_ head: HTTPRequestHead, query: String, token: String) -> Bool {
        var offered: [String] = head.headers["Authorization"].compactMap { value in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) : nil
        }
        for pair in query.split(separator: "&") where pair.hasPrefix("token=") { offered.append(String(pair.dropFirst(6))) }
        return offered.contains { Self.same($0, token) }
    }

    /// Compares without stopping at the first difference (no timing hint of the token).
    private static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<min(x.count, y.count) { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
