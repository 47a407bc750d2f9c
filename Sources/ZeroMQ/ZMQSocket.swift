import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The ZeroMQ socket types Tessera uses.
public enum ZMQSocketType: Int32, Sendable {
    case pair = 0, pub = 1, sub = 2, req = 3, rep = 4, dealer = 5, router = 6, pull = 7, push = 8
}

/// One ZeroMQ socket. A socket must stay on one thread; it is closed in `deinit`, and the
/// files of the `ipc://` endpoints it bound are removed then (libzmq leaves them behind).
///
/// Every libzmq call is retried on `EINTR`; other failures throw `ZMQError` naming the call.
public final class ZMQSocket {
    private let context: ZMQContext
    let handle: UnsafeMutableRawPointer
    /// Socket files of the `ipc://` endpoints this socket bound, removed when it closes.
    private var boundFiles: [String] = []

    /// Creates a socket of `type` on `context`. The corresponding C function is `zmq_socket`.
    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else { throw ZMQError("zmq_socket") }
        self.context = context
        self.handle = handle
        try set(ZMQ_LINGER, 0 as Int32)
    }

    deinit {
        zmq_close(handle)
        for path in boundFiles { unlink(path) }
    }

    // MARK: Endpoints

    /// Binds to an endpoint such as `tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*` or `ipc:///tmp/x`.
    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError("zmq_bind \(endpoint)") }
        // A named socket file; not "ipc://*" (libzmq removes the folder it makes) nor an
        // abstract "ipc://@name" (no file).
        if endpoint.hasPrefix("ipc://") {
            let path = String(endpoint.dropFirst("ipc://".count))
            if path != "*", !path.hasPrefix("@") { boundFiles.append(path) }
        }
    }

    /// Connects to an endpoint; ZeroMQ reconnects by itself when the peer goes away.
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError("zmq_connect \(endpoint)") }
    }

    /// The endpoint actually bound last (resolves `*` ports).
    public var lastEndpoint: String {
        get throws { try string(ZMQ_LAST_ENDPOINT) }
    }

    // MARK: Options

    /// Sets an integer option (`ZMQ_SNDHWM`, `ZMQ_RCVTIMEO`, ...).
    public func set(_ option: Int32, _ value: Int32) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError("zmq_setsockopt \(option)")
        }
    }

    /// Sets a 64-bit integer option (`ZMQ_MAXMSGSIZE`).
    public func set(_ option: Int32, _ value: Int64) throws {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError("zmq_setsockopt \(option)")
        }
    }

    /// Sets a bytes option (`ZMQ_ROUTING_ID`, `ZMQ_SUBSCRIBE`, CURVE keys as Z85 text).
    public func set(_ option: Int32, _ value: [UInt8]) throws {
        guard zmq_setsockopt(handle, option, value, value.count) == 0 else {
            throw ZMQError("zmq_setsockopt \(option)")
        }
    }

    /// Sets a text option, passed with its terminating NUL as libzmq expects for Z85 keys.
    public func set(_ option: Int32, _ value: String) throws {
        try set(option, Array(value.utf8) + [0])
    }

    private func string(_ option: Int32) throws -> String {
        var buffer = [UInt8](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, option, &buffer, &size) == 0 else { throw ZMQError("zmq_getsockopt \(option)") }
        return String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    /// How long closing waits to deliver queued messages (the default here is 0: never).
    public func setLinger(milliseconds: Int32) throws { try set(ZMQ_LINGER, milliseconds) }

    /// Sends give up after `milliseconds` (-1: wait forever).
    public func setSendTimeout(milliseconds: Int32) throws { try set(ZMQ_SNDTIMEO, milliseconds) }

    /// Messages larger than `bytes` are refused by libzmq and the peer disconnected,
    /// before any of it is buffered: the first guard against hostile frames.
    public func setMaxMessageSize(_ bytes: Int64) throws { try set(ZMQ_MAXMSGSIZE, bytes) }

    /// A ROUTER reports unroutable messages (EHOSTUNREACH) instead of dropping them silently.
    public func setRouterMandatory() throws { try set(ZMQ_ROUTER_MANDATORY, 1 as Int32) }

    /// A ROUTER hands a routing id over to a new connection that claims it (a peer that
    /// reconnected) instead of ignoring the newcomer while the old pipe lingers.
    public func setRouterHandover() throws { try set(ZMQ_ROUTER_HANDOVER, 1 as Int32) }

    /// Messages queued per peer before sends block or fail.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws {
        try set(ZMQ_SNDHWM, send)
        try set(ZMQ_RCVHWM, receive)
    }

    /// The kernel's send and receive buffer sizes for this socket's connections (`SO_SNDBUF`,
    /// `SO_RCVBUF`; the system's limits cap them).
    public func setKernelBuffers(send: Int32, receive: Int32) throws {
        try set(ZMQ_SNDBUF, send)
        try set(ZMQ_RCVBUF, receive)
    }

    /// The ZAP domain connections to this socket are authenticated in.
    public func setZAPDomain(_ domain: String) throws { try set(ZMQ_ZAP_DOMAIN, Array(domain.utf8)) }

    /// The routing id a ROUTER peer sees for this socket.
    public func setRoutingID(_ id: [UInt8]) throws { try set(ZMQ_ROUTING_ID, id) }

    /// Makes this socket a CURVE server holding `secretKey` (Z85, 40 characters).
    public func makeCurveServer(secretKey: String) throws {
        try set(ZMQ_CURVE_SERVER, 1 as Int32)
        try set(ZMQ_CURVE_SECRETKEY, secretKey)
    }

    /// Makes this socket a CURVE client of the server with `serverKey`, using its own pair.
    public func makeCurveClient(serverKey: String, publicKey: String, secretKey: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, serverKey)
        try set(ZMQ_CURVE_PUBLICKEY, publicKey)
        try set(ZMQ_CURVE_SECRETKEY, secretKey)
    }

    // MARK: Messages

    /// Sends a multipart message. With `dontWait`, throws a `wouldBlock` error instead of
    /// blocking when the high-water mark is reached.
    ///
    /// Frames of `zeroCopyBytes` or more are not copied: the message refers to the array's
    /// storage, which it keeps alive until libzmq has written it out (a tile's pixels are
    /// 786 KB; copying them cost the coordinator a memmove per tile).
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws {
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = index + 1 < frames.count ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            if frame.count >= Self.zeroCopyBytes {
                try sendWithoutCopy(frame, flags: flags)
            } else {
                try retryingOnInterrupt("zmq_send") { frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) } }
            }
        }
    }

    /// Frames from this size on are sent without a copy.
    public static let zeroCopyBytes = 64 << 10

    /// Sends `frame` as a message that refers to the array's storage, which the message
    /// keeps alive. The array is never mutated meanwhile: the box holds the only reference
    /// libzmq knows of, and arrays are copied on write.
    private func sendWithoutCopy(_ frame: [UInt8], flags: Int32) throws {
        let box = FrameStorage(frame)
        try box.bytes.withUnsafeBytes { try send(referringTo: $0, keeping: box, flags: flags) }
    }

    /// Sends `header` (copied) and then `payload` as the last frame of one message, without
    /// copying `payload`: libzmq reads it from the caller's memory until it gives the frame
    /// back to `loans` (see `ZMQLoans`). The caller keeps that memory alive and unchanged
    /// until `loans` has every frame back; closing this socket without lingering returns
    /// the frames it still holds.
    public func send(_ header: [UInt8], lending payload: UnsafeRawBufferPointer, to loans: ZMQLoans) throws {
        try retryingOnInterrupt("zmq_send") { header.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, ZMQ_SNDMORE) } }
        guard payload.count > 0 else { return try retryingOnInterrupt("zmq_send") { zmq_send(handle, nil, 0, 0) } }
        try send(referringTo: payload, keeping: ZMQLoans.Loan(loans), flags: 0)
    }

    /// Sends a frame that refers to `data` without copying it. `owner` is retained (passed
    /// as libzmq's hint) and released by the free callback, which libzmq calls on its I/O
    /// thread once the bytes are written, when the socket closes without lingering, or at
    /// once when the send fails.
    private func send(referringTo data: UnsafeRawBufferPointer, keeping owner: AnyObject, flags: Int32) throws {
        let hint = Unmanaged.passRetained(owner).toOpaque()
        var message = zmq_msg_t()
        guard
            zmq_msg_init_data(
                &message, UnsafeMutableRawPointer(mutating: data.baseAddress), data.count,
                { _, hint in
                    Unmanaged<AnyObject>.fromOpaque(hint!).release()
                }, hint) == 0
        else {
            Unmanaged<AnyObject>.fromOpaque(hint).release()
            throw ZMQError("zmq_msg_init_data")
        }
        defer { zmq_msg_close(&message) }  // after a successful send libzmq owns the data: close is a no-op
        try retryingOnInterrupt("zmq_msg_send") { zmq_msg_send(&message, handle, flags) }
    }

    /// Receives one multipart message, or nil when `dontWait` and none is queued (or the
    /// receive timeout passed). Frames arrive whole: ZeroMQ delivers all parts or none.
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        repeat {
            let received = zmq_msg_recv(&message, handle, dontWait ? ZMQ_DONTWAIT : 0)
            if received < 0 {
                let error = ZMQError("zmq_msg_recv")
                if error.code == EINTR { continue }
                if error.wouldBlock && frames.isEmpty { return nil }
                throw error
            }
            let size = zmq_msg_size(&message)
            let data = zmq_msg_data(&message)!
            frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
        } while zmq_msg_more(&message) != 0
        return frames
    }

    /// Receives one multipart message and hands its frames to `body` in place, without
    /// copying them out of libzmq's buffers (the ring's segments: megabytes each); nil when
    /// `dontWait` and none is queued. The pointers are valid only during `body`.
    public func receive<R>(dontWait: Bool = false, _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R? {
        var messages: [UnsafeMutablePointer<zmq_msg_t>] = []
        defer {
            for message in messages {
                zmq_msg_close(message)
                message.deallocate()
            }
        }
        repeat {
            let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
            zmq_msg_init(message)
            messages.append(message)
            while zmq_msg_recv(message, handle, dontWait ? ZMQ_DONTWAIT : 0) < 0 {
                let error = ZMQError("zmq_msg_recv")
                if error.code == EINTR { continue }
                if error.wouldBlock && messages.count == 1 { return nil }
                throw error
            }
        } while zmq_msg_more(messages.last!) != 0
        return try body(messages.map { UnsafeRawBufferPointer(start: zmq_msg_data($0), count: zmq_msg_size($0)) })
    }

    private func retryingOnInterrupt(_ function: String, _ call: () -> Int32) throws {
        while true {
            if call() >= 0 { return }
            let error = ZMQError(function)
            if error.code != EINTR { throw error }
        }
    }
}

/// Waits on several sockets at once. The corresponding C function is `zmq_poll`.
public enum ZMQPoller {
    /// Returns, for each socket, whether a message can be received, waiting at most
    /// `timeoutMilliseconds` (-1: forever). Interrupted waits report nothing ready.
    public static func pollIn(_ sockets: [ZMQSocket], timeoutMilliseconds: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let count = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
        if count < 0 {
            let error = ZMQError("zmq_poll")
            if error.code == EINTR { return Array(repeating: false, count: sockets.count) }
            throw error
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}

/// Z85, the text encoding of CURVE keys (ZeroMQ RFC 32).
public enum Z85 {
    /// The Z85 text of `bytes` (a multiple of 4 long). The C function is `zmq_z85_encode`.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { return nil }
        return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// A CURVE key pair in Z85 text, as libzmq generates them.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// Generates a new pair. The corresponding C function is `zmq_curve_keypair`.
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError("zmq_curve_keypair") }
        return CurveKeyPair(
            publicKey: publicKey.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
            secretKey: secretKey.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// The public key that belongs to `secretKey`. The C function is `zmq_curve_public`.
    public static func publicKey(for secretKey: String) throws -> String {
        var publicKey = [CChar](repeating: 0, count: 41)
        guard secretKey.utf8.count == 40, zmq_curve_public(&publicKey, secretKey) == 0 else {
            throw ZMQError("zmq_curve_public")
        }
        return publicKey.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// Keeps a frame's bytes alive while libzmq sends them without a copy.
private final class FrameStorage {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
