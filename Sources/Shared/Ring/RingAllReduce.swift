import Core
import Foundation
import Synchronization
import ZeroMQ

/// One member's end of a ring all-reduce over ZeroMQ (`RingPlan` says what moves when):
/// a PULL socket bound for the predecessor's data, a PUSH socket connected to the
/// successor's. Data goes directly from worker to worker. Each chunk travels in segments
/// of at most `segmentValues` floats, each passed on as soon as it is added, so that the
/// steps overlap along the ring; messages are checked against what the plan expects
/// (docs/PROTOCOL.md, "Ring link").
///
/// Callers that want the average over shares of unequal size scale their buffer by their
/// share's weight first (n_i / N): the sum is then the average, computed once per chunk
/// and copied to every member, so every member ends with the same bits.
public final class RingAllReduce {
    public private(set) var rank: Int
    public private(set) var members: Int
    /// The ring's incarnation (a training run's epoch): segments of an earlier one, still
    /// in flight when the ring was re-formed, are discarded.
    public private(set) var epoch: UInt16 = 0
    private let context: ZMQContext
    private let security: ClusterConfig.Security?
    private let receiver: ZMQSocket
    var sender: ZMQSocket
    /// The successor's endpoint, for a fresh sending socket after a failure.
    private var successor: String?
    /// Whether segments go to the successor through shared memory (`SegmentRegion`): it is
    /// on this machine and said it takes them.
    var sharedLink = false
    /// The region this member's segments go through, and how many have been put there.
    var outbox: SegmentRegion?
    var outboxSent: UInt64 = 0
    /// The predecessor's region, once a segment named it.
    var inbox: SegmentRegion?
    /// The file in /dev/shm that `endpoint` names for predecessors to see (`SegmentRegion.marker`).
    private var marker: String?
    /// The segments of `buffer` libzmq still holds (zero-copy sends).
    let loans = ZMQLoans()
    /// The endpoint the predecessor connects to.
    public let endpoint: String
    /// 512K values (2 MB): segments go on as soon as they are taken, and 3 member processes
    /// on loopback ran the b0 gradient's all-reduce 1.2× as fast as with 2M (bench/RESULTS.md).
    public var segmentValues = RingAllReduce.defaultSegmentValues
    public static let defaultSegmentValues = 512 << 10
    /// Segments shorter than this go in the message even through shared memory (the
    /// loss, the running statistics): a slot saves nothing on a few values.
    public var smallestSharedSegment = 4096
    /// How long to wait for a segment before the ring is taken as broken.
    public var timeoutMilliseconds = 30_000
    var timeoutDescription: String { String(format: "%g s", Double(timeoutMilliseconds) / 1000) }
    /// Nanoseconds spent in `allReduce` so far (read between steps for the step's share).
    private let nanosecondsSumming = Atomic<UInt64>(0)
    public var secondsSumming: Double { Double(nanosecondsSumming.load(ordering: .relaxed)) / 1e9 }
    /// Polled while waiting for a segment: true abandons the all-reduce with `Aborted`
    /// (the coordinator re-formed the ring, or stopped the run).
    public var shouldAbort: (() -> Bool)?

    /// Thrown when `shouldAbort` said so.
    public struct Aborted: Error, CustomStringConvertible {
        public var description: String { "the all-reduce was abandoned" }
    }
    /// Segments of a later epoch that came while this member was still in an earlier one.
    private var early: [[[UInt8]]] = []
    /// Admits only the worker key to the receiving socket when the ring is secured.
    private let zap: ZAPAuthenticator?

    deinit {
        if let marker { unlink(SegmentRegion.folder + marker) }
    }

    /// Binds this member's receiving socket to `bind` (e.g. "tcp://127.0.0.1:*"); `connect`
    /// then joins it to its successor. A member bound on loopback is on one machine with its
    /// whole ring: unless `ipcBeside` is false it also binds an ipc socket, and `endpoint`
    /// names both (see `reachable`). A member with an ipc socket also takes segments
    /// through shared memory over it, unless `sharedMemory` is false (`endpoint` then ends
    /// with "shm:" and a file in its /dev/shm). With `security` (cluster.conf's
    /// `[security]`, which must hold the worker secret key) both links use CURVE with the
    /// workers' key pair: the receiving socket is a CURVE server that admits only the worker
    /// public key (a ZAP handler in `context`, which must not have another), the sending
    /// one its client.
    public init(
        context: ZMQContext, rank: Int, members: Int, bind: String, ipcBeside: Bool = true, sharedMemory: Bool = true,
        security: ClusterConfig.Security? = nil, log: Log = Log("ring")
    ) throws {
        precondition(members >= 1 && (0..<members).contains(rank))
        self.rank = rank
        self.members = members
        self.context = context
        self.security = security
        receiver = try ZMQSocket(context: context, type: .pull)
        sender = try Self.sender(context, security: security, successor: nil)
        if let security {
            guard let secret = security.workerSecret else {
                throw TesseraError("ring", "[security] needs worker_secret on a worker: ring links are CURVE-secured with the workers' key pair")
            }
            zap = try ZAPAuthenticator(context: context, allowed: ["ring": security.workerPublic], log: log)
            try receiver.setZAPDomain("ring")
            try receiver.makeCurveServer(secretKey: secret)
        } else {
            zap = nil
        }
        try receiver.setHighWaterMarks(send: 0, receive: 0)  // a step's chunk is bounded; never block on it
        try receiver.setLinger(milliseconds: 0)
        try receiver.bind(bind)
        var endpoints = [try receiver.lastEndpoint]
        if ipcBeside, Self.isLoopback(bind) {
            // An abstract socket (Linux): no file to leave behind when a worker is killed.
            try receiver.bind("ipc://@tessera-ring-\(UUID().uuidString.lowercased())")
            endpoints.insert(try receiver.lastEndpoint, at: 0)
        }
        if sharedMemory, endpoints.contains(where: { $0.hasPrefix("ipc://") }), let marker = SegmentRegion.marker() {
            self.marker = marker
            endpoints.append(Self.sharedMemoryToken + marker)
        }
        endpoint = endpoints.joined(separator: " ")
    }

    /// A PUSH socket to the successor at `successor` (see `reachable`), or unconnected.
    private static func sender(_ context: ZMQContext, security: ClusterConfig.Security?, successor: String?) throws -> ZMQSocket {
        let sender = try ZMQSocket(context: context, type: .push)
        if let security, let secret = security.workerSecret {
            try sender.makeCurveClient(serverKey: security.workerPublic, publicKey: security.workerPublic, secretKey: secret)
        }
        try sender.setHighWaterMarks(send: 0, receive: 0)
        try sender.setLinger(milliseconds: 5_000)
        if let successor {
            let address = reachable(successor)
            // A local socket queues at most its send buffer (208 KB by default); 1 MB ran 2 and
            // 4 member processes 1.1–1.3× as fast (over tcp, fixed buffers ran slower than the
            // kernel's own tuning).
            if address.hasPrefix("ipc://") { try sender.setKernelBuffers(send: 1 << 20, receive: 1 << 20) }
            try sender.connect(address)
        }
        return sender
    }

    /// Connects to the successor's endpoint (as its `endpoint` names it).
    public func connect(successor: String) throws { try link(to: successor) }

    /// Sends to `successor` from a fresh socket, through a fresh region when it is on this
    /// machine and takes segments so.
    private func link(to successor: String) throws {
        sender = try Self.sender(context, security: security, successor: successor)
        self.successor = successor
        sharedLink = Self.reachable(successor).hasPrefix("ipc://") && Self.sharedMemoryMarker(successor).map(SegmentRegion.sees) == true
        outbox = nil
    }

    /// Makes this member rank `rank` of a ring of `members` in incarnation `epoch`, sending
    /// to `successor` from a fresh socket (a PUSH socket connected twice would share its
    /// messages between both). The receiving socket stays: its endpoint is the member's.
    public func reform(rank: Int, members: Int, successor: String, epoch: UInt16) throws {
        precondition(members >= 1 && (0..<members).contains(rank))
        try link(to: successor)
        self.rank = rank
        self.members = members
        self.epoch = epoch
        early.removeAll { frames in
            frames.first.map { bytes in bytes.withUnsafeBytes { Self.epoch(ofHeader: $0).map { Self.epochOrder($0, against: epoch) < 0 } ?? true } } ?? true
        }
    }

    /// Replaces `buffer` by the sum of every member's buffer (all the same length).
    /// `round` numbers the call (a training step): a message of another round is an error.
    ///
    /// Segments are sent from `buffer` itself, without a copy (`ZMQSocket.send(_:lending:to:)`):
    /// a region is only changed after the ring has carried what was sent from it (a chunk's
    /// sum reaches a member only after every member's share of it was received), and no
    /// call returns or throws while libzmq still holds part of `buffer`.
    public func allReduce(_ buffer: inout [Float], round: UInt64) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { nanosecondsSumming.add(DispatchTime.now().uptimeNanoseconds - started, ordering: .relaxed) }
        let plan = RingPlan(members: members, rank: rank, count: buffer.count)
        let steps =
            (0..<plan.steps).map { Step(phase: .reduceScatter, chunks: plan.reduceScatter(step: $0)) }
            + (0..<plan.steps).map { Step(phase: .allGather, chunks: plan.allGather(step: $0)) }
        try prepareOutbox(plan)
        try buffer.withUnsafeMutableBufferPointer { values in
            do {
                if let first = steps.first {
                    for segment in segments(plan.chunk(first.chunks.send)) { try send(values, segment, step: first, round: round) }
                }
                // What a member receives in one step it sends in the next: each segment goes
                // on as soon as it is taken, so that the steps overlap along the ring.
                for (index, step) in steps.enumerated() {
                    for segment in segments(plan.chunk(step.chunks.receive)) {
                        try receiveSegment(values, segment.lowerBound, segment.upperBound, phase: step.phase, chunk: step.chunks.receive, round: round)
                        if index + 1 < steps.count { try send(values, segment, step: steps[index + 1], round: round) }
                    }
                }
            } catch {
                try? takeBackLoans()
                throw error
            }
            // The successor is taking the last segments: wait until they are written.
            guard loans.waitForAll(milliseconds: timeoutMilliseconds) else {
                try takeBackLoans()
                throw TesseraError("ring", successorSilence, code: .timeout)
            }
        }
    }

    /// Closes the sending socket without lingering, which gives back the segments it still
    /// held, and sends from a fresh one to the same successor: after a failed all-reduce,
    /// the buffer is the caller's again (segments in flight were of a round that failed).
    private func takeBackLoans() throws {
        try sender.setLinger(milliseconds: 0)
        if let successor { try link(to: successor) } else { sender = try Self.sender(context, security: security, successor: nil) }
        _ = loans.waitForAll(milliseconds: nil)  // libzmq's reaper frees them shortly
    }

    /// A step of the all-reduce: its phase and the chunks sent and received (`RingPlan`).
    private struct Step {
        let phase: Phase
        let chunks: (send: Int, receive: Int)
    }

    /// A chunk's segments: `segmentValues` values each, the last one shorter.
    private func segments(_ chunk: Range<Int>) -> [Range<Int>] {
        stride(from: chunk.lowerBound, to: chunk.upperBound, by: segmentValues).map { $0..<min($0 + segmentValues, chunk.upperBound) }
    }

    /// Sends `segment` of `step`'s outgoing chunk, lent from the buffer.
    private func send(_ buffer: UnsafeMutableBufferPointer<Float>, _ segment: Range<Int>, step: Step, round: UInt64) throws {
        let header = Self.header(phase: step.phase, epoch: epoch, round: round, chunk: step.chunks.send, offset: segment.lowerBound)
        if let outbox, segment.count >= smallestSharedSegment {
            return try sendShared(UnsafeBufferPointer(rebasing: buffer[segment]), header: header, through: outbox)
        }
        try sender.send(
            header,
            lending: UnsafeRawBufferPointer(start: buffer.baseAddress! + segment.lowerBound, count: segment.count * 4), to: loans)
    }

    /// Runs the all-reduce's traffic without its arithmetic: `steps` steps, each sending
    /// `segments` copies of `payload` to the successor, then receiving as many from the
    /// predecessor. The transport's share of an all-reduce, for `tessera bench allreduce`.
    public func exchangeRaw(_ payload: [UInt8], segments: Int, steps: Int) throws {
        for _ in 0..<steps {
            for _ in 0..<segments { try sender.send([payload]) }
            for _ in 0..<segments {
                try waitForData()
                _ = try receiver.receive(dontWait: true) { $0.count }
            }
        }
    }

    /// Waits until the predecessor's next message is queued, answering CURVE handshakes'
    /// ZAP requests meanwhile; throws after `timeoutMilliseconds` without data.
    func waitForData() throws {
        let deadline = waitDeadline()
        while true {
            let wait = try remaining(until: deadline) {
                "member \(rank) heard nothing from member \((rank + members - 1) % members) for \(timeoutDescription)"
                    + (zap == nil ? "" : " (a peer without the worker key pair is refused silently)")
            }
            let milliseconds = Int(wait / 1_000_000) + 1
            let ready = try ZMQPoller.pollIn(
                [receiver] + (zap.map { [$0.socket] } ?? []), timeoutMilliseconds: shouldAbort == nil ? milliseconds : min(milliseconds, 50))
            if ready.count > 1, ready[1] { try zap?.answer() }
            if ready[0] { return }
        }
    }

    /// When a wait that starts now times out (`timeoutMilliseconds`), in uptime nanoseconds.
    func waitDeadline() -> UInt64 { DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMilliseconds) * 1_000_000 }

    /// The nanoseconds a wait has left before `deadline`; throws `Aborted` when the owner
    /// asks to stop, and a timeout saying `silence` once the deadline has passed.
    func remaining(until deadline: UInt64, silence: () -> String) throws -> UInt64 {
        if let shouldAbort, shouldAbort() { throw Aborted() }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < deadline else { throw TesseraError("ring", silence(), code: .timeout) }
        return deadline - now
    }

    /// What a timeout says when the successor takes nothing.
    var successorSilence: String { "member \(rank): member \((rank + 1) % members) took no segment for \(timeoutDescription)" }

    /// Takes the segment [start, end) of chunk `chunk` from the predecessor into `buffer`
    /// (added in the reduce-scatter, copied in the all-gather), waiting for it. Segments of
    /// an earlier epoch are dropped and those of a later one kept for it (docs/PROTOCOL.md,
    /// "Ring link").
    private func receiveSegment(_ buffer: UnsafeMutableBufferPointer<Float>, _ start: Int, _ end: Int, phase: Phase, chunk: Int, round: UInt64) throws {
        let expected = Self.header(phase: phase, epoch: epoch, round: round, chunk: chunk, offset: start)
        if let index = early.firstIndex(where: { $0.first.map { $0.elementsEqual(expected) } ?? false }) {
            let frames = early.remove(at: index)
            let problem = frames[0].withUnsafeBytes { header in
                frames[1].withUnsafeBytes { payload -> String? in
                    switch Self.verdict([header, payload], expected: expected, values: end - start) {
                    case .take: Self.apply(payload, to: buffer, start, end, phase: phase); return nil
                    case .unexpected(let problem): return problem
                    default: return "a kept segment is not the one due"
                    }
                }
            }
            if let problem { throw unexpected(problem, phase: phase, chunk: chunk, round: round, start: start) }
            return
        }
        while true {
            try waitForData()
            enum Outcome { case taken(String?), dropped, kept([[UInt8]]) }
            let outcome: Outcome? = try receiver.receive(dontWait: true) { message -> Outcome in
                try resolvingReference(message) { frames in
                    switch Self.verdict(frames, expected: expected, values: end - start) {
                    case .drop: return .dropped  // an earlier incarnation's segment, still in flight
                    case .keep: return .kept(frames.map { [UInt8]($0) })
                    case .unexpected(let problem): return .taken(problem)
                    case .take:
                        Self.apply(frames[1], to: buffer, start, end, phase: phase)
                        return .taken(nil)
                    }
                }
            }
            switch outcome {
            case nil:
                throw TesseraError("ring", "member \(rank): a message was announced but none came", code: .malformed)
            case .dropped?: continue
            case .kept(let frames)?:
                if early.count < Self.maxEarlySegments { early.append(frames) }
                continue
            case .taken(let problem)?:
                if let problem { throw unexpected(problem, phase: phase, chunk: chunk, round: round, start: start) }
                return
            }
        }
    }

    private func unexpected(_ problem: String, phase: Phase, chunk: Int, round: UInt64, start: Int) -> TesseraError {
        TesseraError(
            "ring",
            "member \(rank) received an unexpected message (\(problem)) where round \(round), phase \(phase), "
                + "chunk \(chunk), offset \(start) was due", code: .malformed)
    }

    /// Segments of a later epoch held at most: a predecessor sends at most one round's
    /// segments ahead before it waits for this member.
    static let maxEarlySegments = 4096
}
