import Foundation

/// A thread that runs submitted work one item at a time, in order, so a producer can hand
/// off slow output (compressing and writing a mask) and go on computing. At most
/// `capacity` bytes of work wait; `submit` blocks beyond that, which bounds memory. The
/// first error stops the work and is thrown by the next `submit` or by `drain`. The
/// thread holds the worker, so its owner must `cancel` it when done with it.
public final class SerialWorker: @unchecked Sendable {
    private let lock = NSCondition()
    private var queue: [(bytes: Int, work: () throws -> Void)] = []
    private var queuedBytes = 0
    private var busy = false
    private var failure: Error?
    private var stopped = false
    private let capacity: Int
    private let name: String

    /// `name` names the thread and its account in `ThreadCPU`.
    public init(name: String, capacity: Int) {
        self.capacity = capacity
        self.name = name
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Queues `work`, which holds about `bytes` of data, once there is room.
    public func submit(bytes: Int, _ work: @escaping () throws -> Void) throws {
        lock.lock()
        defer { lock.unlock() }
        while queuedBytes > 0 && queuedBytes + bytes > capacity && failure == nil && !stopped { lock.wait() }
        if let failure { throw failure }
        guard !stopped else { return }
        queue.append((bytes, work))
        queuedBytes += bytes
        lock.broadcast()
    }

    /// Waits until every queued item has run; throws the first error one threw.
    public func drain() throws {
        lock.lock()
        defer { lock.unlock() }
        while (!queue.isEmpty || busy) && failure == nil && !stopped { lock.wait() }
        if let failure { throw failure }
    }

    /// Drops what waits and ends the thread once the current item is done.
    public func cancel() {
        lock.lock()
        stopped = true
        queue.removeAll()
        queuedBytes = 0
        lock.broadcast()
        lock.unlock()
    }

    private func run() {
        while true {
            lock.lock()
            while queue.isEmpty && !stopped { lock.wait() }
            if stopped { lock.unlock(); return }
            let item = queue.removeFirst()
            busy = true
            lock.unlock()
            var error: Error?
            do { try ThreadCPU.shared.measure(name, item.work) } catch let thrown { error = thrown }
            lock.lock()
            busy = false
            queuedBytes -= item.bytes
            if let error, failure == nil {
                failure = error
                queue.removeAll()
                queuedBytes = 0
            }
            lock.broadcast()
            lock.unlock()
        }
    }
}
