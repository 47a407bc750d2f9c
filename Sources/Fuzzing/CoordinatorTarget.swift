import Coordinator
import Core
import Foundation
import Segmentation
import Shared
import ZeroMQ

/// Fuzzes a real coordinator in this process: each input runs against a fresh
/// `CoordinatorServer` on inproc endpoints, whose worker and client handlers take the
/// input's messages as its sockets would hand them over (routing id first), with a tick
/// after each. A worker ("w-a") and a client ("c-a") are really connected, so what the
/// coordinator sends them goes somewhere, and a small slide lies at a fixed path, so that
/// seeds can submit it, register, and answer its tiles.
enum CoordinatorTarget {
    /// Channels: 0 the worker link, 1 the client link, 2 a metrics request.
    static let channels = 3
    static let worker: [UInt8] = Array("w-a".utf8)
    static let client: [UInt8] = Array("c-a".utf8)
    static let tile = 64

    /// The folder of the fixed slide and of every coordinator's state.
    static let folder = NSTemporaryDirectory() + "tessera-fuzz"
    static var slidePath: String { folder + "/synth_1.tiff" }

    /// Writes the slide once (the same bytes every time, so seeds made by another process
    /// name it by the same digest).
    static func prepare() throws {
        if FileManager.default.fileExists(atPath: slidePath) { return }
        let scratch = folder + "/scratch-\(getpid())"
        let output = try SyntheticSlideWriter.write(SyntheticSlide(width: 150, height: 100, seed: 1), to: scratch)
        _ = rename(output.slidePath, slidePath)
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private static let context: ZMQContext = {
        do { return try ZMQContext() } catch { fatalError("fuzz harness: no ZeroMQ context: \(error)") }
    }()
    nonisolated(unsafe) private static var instances = 0

    static func run(_ input: FuzzInput) {
        instances += 1
        let name = "\(getpid())-\(instances)"
        let state = folder + "/state-\(name)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let text = """
            [coordinator]
            workers = inproc://fuzz-w-\(name)
            clients = inproc://fuzz-c-\(name)
            state = \(state)
            member_deadline = 0.2
            keep_results = 1
            upload_timeout = 1
            worker_credit = 2
            [inference]
            tile = \(tile)
            margin = 8
            [heartbeat]
            interval = 0.05
            liveness = 2
            [member half]
            architecture = constant
            value = 0.6
            """
        do {
            let config = try ClusterConfig(parsing: text, source: "fuzz.conf")
            let server = try CoordinatorServer(config: config)
            try server.open(context: context)
            defer { server.endJobs() }
            let workerSocket = try dealer(config.workerEndpoint, worker)
            let clientSocket = try dealer(config.clientEndpoint, client)
            for message in input.messages {
                switch Int(message.channel) % channels {
                case 0: server.handle(workerMessage: message.frames)
                case 1: server.handle(clientMessage: message.frames)
                default: _ = server.metricsText()
                }
                for socket in [workerSocket, clientSocket] { while (try? socket.receive(dontWait: true)) != nil {} }
            }
        } catch {
            fatalError("fuzz harness: cannot set up a coordinator: \(error)")
        }
    }

    private static func dealer(_ endpoint: String, _ identity: [UInt8]) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setRoutingID(identity)
        try socket.connect(endpoint)
        return socket
    }
}
