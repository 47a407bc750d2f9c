import Core
import Foundation
import ZeroMQ

/// How a worker's thread tells the I/O thread that something waits for it: a one-byte
/// message on an inproc PAIR socket, which the I/O thread polls beside its DEALER, so it
/// sleeps in one `zmq_poll` whatever it waits for. What waits is handed over in memory,
/// under the thread's own lock; the doorbell only wakes.
final class Doorbell: @unchecked Sendable {
    /// The I/O thread's end: readable when the bell rang.
    let socket: ZMQSocket
    /// The ringing thread's end. Made here and used only by that thread from its start on:
    /// libzmq lets a socket change threads across a full memory barrier, as starting one is.
    private let ringer: ZMQSocket
    private let log: Log

    init(context: ZMQContext, name: String, log: Log) throws {
        let endpoint = "inproc://\(name)-\(UUID().uuidString)"
        socket = try ZMQSocket(context: context, type: .pair)
        try socket.bind(endpoint)
        ringer = try ZMQSocket(context: context, type: .pair)
        try ringer.connect(endpoint)
        self.log = log
    }

    /// Rings (from the working thread); a bell already ringing needs no second ring.
    func ring() {
        do { try ringer.send([[1]], dontWait: true) } catch {
            if !((error as? ZMQError)?.wouldBlock ?? false) { log.error("doorbell: \(error)") }
        }
    }

    /// Silences the bell (on the I/O thread, before taking what waits).
    func silence() {
        while (try? socket.receive(dontWait: true)) != nil {}
    }
}
