import Core
import Foundation
import Shared
import ZeroMQ

/// Raw ZeroMQ throughput on this machine: the reference the cluster's figures are read
/// against. One thread pushes `count` messages of `bytes`, another pulls them. Messages
/// go as the cluster's do: sent without a copy (as libzmq's own remote_thr sends them),
/// received into an array.
enum ZeroMQThroughput {
    /// Bytes per second from first to last message, over `transport` ("tcp" or "ipc").
    static func measure(transport: String, bytes: Int = 1 << 20, count: Int = 2000) throws -> Double {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        let endpoint = transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc://\(NSTemporaryDirectory())tessera-bench-\(UUID().uuidString.prefix(8))"
        try pull.bind(endpoint)
        let bound = try pull.lastEndpoint
        let box = UncheckedBox(context)
        let sender = Thread {
            guard let push = try? ZMQSocket(context: box.value, type: .push), (try? push.connect(bound)) != nil else { return }
            try? push.setLinger(milliseconds: 10_000)  // deliver everything before closing
            let message = [UInt8](repeating: 7, count: bytes)
            for _ in 0..<count { try? push.send([message]) }
        }
        sender.start()
        _ = try pull.receive()  // the first message starts the clock
        let start = Date()
        var received = 1
        while received < count { _ = try pull.receive(); received += 1 }
        return Double((count - 1) * bytes) / Date().timeIntervalSince(start)
    }
}
