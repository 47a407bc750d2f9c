import Foundation

/// A thread with a mailbox: messages posted from any thread are handled on it one at a time,
/// in order. The worker's compute and training threads and the mask writer are each one.
///
/// With a `capacity`, `post` blocks while the messages waiting cost more than it (a bound on
/// memory: bytes of output not yet written). The first error a handler throws stops the
/// handling; `post` and `drain` then throw it. The thread keeps the handler (and what it
/// holds) until `stop`.
public final class MailboxThread<Message>: @unchecked Sendable {
    private let lock = NSCondition()
    private var waiting: [(message: Message, cost: Int)] = []
    private var waitingCost = 0
    private var busy = false
    private var failure: Error?
    private var stopped = false
    private let capacity: Int
    private var handle: ((Message) throws -> Void)?
    private var onExit: (() -> Void)?
    private let ended = DispatchSemaphore(value: 0)

    /// Starts the thread, named `name` (also its account in `ThreadCPU` when `accountsCPU`).
    /// `onExit` runs on the thread as it ends (to release what the handler's state holds).
    public init(
        name: String, capacity: Int = .max, accountsCPU: Bool = false, onExit: @escaping () -> Void = {},
        handle: @escaping (Message) throws -> Void
    ) {
        self.capacity = capacity
        self.handle = handle
        self.onExit = onExit
        let thread = Thread { [self] in
            ThreadName.setCurrent(name)
            run(name: name, accountsCPU: accountsCPU)
            self.onExit?()
            lock.lock()
            self.handle = nil
            self.onExit = nil
            lock.unlock()
            ended.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Queues `message`, which costs `cost` of the capacity, once there is room; throws the
    /// error that stopped the handling, if one has. After `stop` messages are dropped.
    public func post(_ message: Message, cost: Int = 0) throws {
        lock.lock()
        defer { lock.unlock() }
        while waitingCost > 0 && waitingCost + cost > capacity && failure == nil && !stopped { lock.wait() }
        if let failure { throw failure }
        guard !stopped else { return }
        waiting.append((message, cost))
        waitingCost += cost
        lock.broadcast()
    }

    /// Waits until every message posted has been handled; throws the first error a handler threw.
    public func drain() throws {
        lock.lock()
        defer { lock.unlock() }
        while (!waiting.isEmpty || busy) && failure == nil && !stopped { lock.wait() }
        if let failure { throw failure }
    }

    /// Drops the messages waiting; the thread ends once the one in hand is handled.
    /// `wait`: returns only once it has.
    public func stop(wait: Bool) {
        lock.lock()
        let first = !stopped
        stopped = true
        waiting.removeAll()
        waitingCost = 0
        lock.broadcast()
        lock.unlock()
        if wait && first {
            ended.wait()
            ended.signal()
        }
    }

    private func run(name: String, accountsCPU: Bool) {
        while true {
            lock.lock()
            while waiting.isEmpty && !stopped { lock.wait() }
            guard !stopped, let handle else {
                lock.unlock()
                return
            }
            let item = waiting.removeFirst()
            busy = true
            lock.unlock()
            var error: Error?
            do {
                if accountsCPU { try ThreadCPU.shared.measure(name) { try handle(item.message) } } else { try handle(item.message) }
            } catch let thrown { error = thrown }
            lock.lock()
            busy = false
            waitingCost -= item.cost
            if let error, failure == nil {
                failure = error
                waiting.removeAll()
                waitingCost = 0
            }
            lock.broadcast()
            lock.unlock()
        }
    }
}
