import Foundation
import Testing

@testable import Core

@Suite struct MailboxThreadTests {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var items: [Int] = []
        func add(_ item: Int) { lock.withLock { items.append(item) } }
    }

    /// Messages are handled in order and `drain` waits for all of them, posts waiting for
    /// room (each message costs 4 of the 10 allowed).
    @Test func handlesInOrderAndDrains() throws {
        let log = Log()
        let mailbox = MailboxThread<Int>(name: "test", capacity: 10) { item in
            usleep(200)
            log.add(item)
        }
        defer { mailbox.stop(wait: true) }
        for item in 0..<50 { try mailbox.post(item, cost: 4) }
        try mailbox.drain()
        #expect(log.items == Array(0..<50))
    }

    /// The thread carries its name for the operating system (top -H, perf), cut to the
    /// 15 bytes Linux keeps, never inside a character.
    @Test func theThreadIsNamedForTheSystem() throws {
        let seen = NSLock()
        var got: [String] = []
        for name in ["mask writer", "a name longer than fifteen", "tile reader ééé"] {
            let mailbox = MailboxThread<Int>(name: name) { _ in seen.withLock { got.append(ThreadName.current) } }
            try mailbox.post(0)
            try mailbox.drain()
            mailbox.stop(wait: true)
        }
        #if os(Linux)
        #expect(got == ["mask writer", "a name longer t", "tile reader é"])
        #endif
    }

    /// The first error stops the handling; the next post and drain throw it.
    @Test func theFirstErrorStopsTheHandling() throws {
        let log = Log()
        let mailbox = MailboxThread<Int>(name: "test") { item in
            if item == 2 { throw TesseraError("disk", "full", code: .io) }
            log.add(item)
        }
        defer { mailbox.stop(wait: true) }
        try mailbox.post(1)
        try mailbox.post(2)
        try? mailbox.post(3)
        #expect(throws: TesseraError("disk", "full", code: .io)) { try mailbox.drain() }
        #expect(throws: TesseraError.self) { try mailbox.post(4) }
        #expect(!log.items.contains(4) && log.items.first == 1)
    }

    /// `stop` drops what waits, lets the message in hand finish, runs `onExit` on the
    /// thread and releases the handler; later posts are dropped.
    @Test func stopEndsTheThreadAfterTheMessageInHand() throws {
        final class Owner: @unchecked Sendable {}
        weak var released: Owner?
        let log = Log(), started = DispatchSemaphore(value: 0), exited = Log()
        let mailbox: MailboxThread<Int>
        do {
            let owner = Owner()
            released = owner
            mailbox = MailboxThread<Int>(name: "test", onExit: { exited.add(1) }) { item in
                _ = owner
                started.signal()
                usleep(50_000)
                log.add(item)
            }
        }
        try mailbox.post(1)
        try mailbox.post(2)
        started.wait()
        mailbox.stop(wait: true)
        try mailbox.post(3)
        #expect(log.items == [1] && exited.items == [1])
        #expect(released == nil, "the handler (and what it holds) is released once the thread ends")
    }
}
