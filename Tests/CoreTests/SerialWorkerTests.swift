import Foundation
import Testing

@testable import Core

@Suite struct SerialWorkerTests {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var items: [Int] = []
        func add(_ item: Int) { lock.withLock { items.append(item) } }
    }

    /// Work runs in order and `drain` waits for all of it, with submits waiting for room
    /// (each item is 4 of the 10 bytes allowed).
    @Test func runsInOrderAndDrains() throws {
        let worker = SerialWorker(name: "test", capacity: 10)
        defer { worker.cancel() }
        let log = Log()
        for item in 0..<50 {
            try worker.submit(bytes: 4) {
                usleep(200)
                log.add(item)
            }
        }
        try worker.drain()
        #expect(log.items == Array(0..<50))
    }

    /// The first error stops the work; the next submit and drain throw it.
    @Test func theFirstErrorStopsTheWork() throws {
        let worker = SerialWorker(name: "test", capacity: 1 << 20)
        defer { worker.cancel() }
        let log = Log()
        try worker.submit(bytes: 1) { log.add(1) }
        try worker.submit(bytes: 1) { throw TesseraError("disk", "full") }
        try? worker.submit(bytes: 1) { log.add(3) }
        #expect(throws: TesseraError.self) { try worker.drain() }
        #expect(throws: TesseraError.self) { try worker.submit(bytes: 1) { log.add(4) } }
        #expect(!log.items.contains(4) && log.items.first == 1)
    }
}
