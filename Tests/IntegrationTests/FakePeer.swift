import Core
import Foundation
import Shared
import ZeroMQ

/// The test's side of a link, playing a coordinator (a bound ROUTER) or a worker or client
/// (a DEALER), to send what a real peer never would and see what comes back.
final class FakePeer {
    let context: ZMQContext
    let socket: ZMQSocket
    /// Whether it plays the coordinator: messages then carry a routing id first.
    let isRouter: Bool

    /// A coordinator's ROUTER bound at `endpoint`.
    init(routerAt endpoint: String) throws {
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .router)
        isRouter = true
        try socket.setRouterHandover()
        try socket.bind(endpoint)
    }

    /// A worker's or client's DEALER connected to `endpoint`.
    init(dealerTo endpoint: String, routingID: [UInt8]? = nil) throws {
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .dealer)
        isRouter = false
        if let routingID { try socket.setRoutingID(routingID) }
        try socket.connect(endpoint)
    }

    func send(_ frames: [[UInt8]]) throws { try socket.send(frames) }

    /// The next message of `kind` (routing id first on a ROUTER), skipping others; nil
    /// after `timeout` seconds.
    func receive(_ kind: WireKind, timeout: Double = 10) throws -> [[UInt8]]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard try ZMQPoller.pollIn([socket], timeoutMilliseconds: 50)[0], let frames = try socket.receive(dontWait: true) else { continue }
            let message = isRouter ? Array(frames.dropFirst()) : frames
            if case .success(let (received, _)) = WireCodec.open(message), received == kind { return frames }
        }
        return nil
    }

    /// The body frames of the next message of `kind` (without routing id and header).
    func body(_ kind: WireKind, timeout: Double = 10) throws -> [[UInt8]]? {
        guard let frames = try receive(kind, timeout: timeout) else { return nil }
        return Array(frames.dropFirst(isRouter ? 2 : 1))
    }
}
