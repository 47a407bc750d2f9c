import Core

/// The kinds of message on Tessera's sockets (docs/PROTOCOL.md), as the header's kind byte.
public enum WireKind: UInt8, Sendable, CaseIterable {
    // Worker link (worker DEALER ↔ coordinator ROUTER).
    case register = 1
    case welcome = 2
    case refuse = 3
    case heartbeat = 4
    case tile = 5
    case result = 6
    case tileFailed = 7
    case goodbye = 8
    case registerAgain = 9
    // Client link (client DEALER ↔ coordinator ROUTER).
    case submit = 20
    case accepted = 21
    case fetch = 22
    case chunk = 23
    case progress = 24
    case finished = 25
    case failed = 26
    case attach = 27
    case statusRequest = 28
    case statusReply = 29
    case error = 30
    // Training on the worker link (docs/PROTOCOL.md, "Training").
    case trainJoin = 40
    case trainReady = 41
    case trainStep = 42
    case trainDone = 43
    case trainSave = 44
    case trainState = 45
    case trainStop = 46
    case trainFailed = 47
    // Training on the client link.
    case trainSubmit = 50
    case trainProgress = 51
    case trainFinished = 52
}

/// The first frame of every message: "TS", the protocol version, the kind.
public enum WireHeader {
    /// The protocol version this build speaks; peers with another are refused.
    public static let version: UInt8 = 8
    static let magic: [UInt8] = [0x54, 0x53]  // "TS"

    public static func frame(_ kind: WireKind) -> [UInt8] { frame(kind, version: version) }

    /// A peer speaking another protocol version: its version and message kind, when `frame`
    /// is a header in every way but the version. The header's layout is the same in every
    /// version, so the peer can be told why it is refused in its own version's framing.
    public static func otherVersion(_ frame: [UInt8]) -> (version: UInt8, kind: UInt8)? {
        guard frame.count == 4, frame[0] == magic[0], frame[1] == magic[1], frame[2] != version else { return nil }
        return (frame[2], frame[3])
    }

    /// A header frame of `version` (to answer a peer of another version).
    public static func frame(_ kind: WireKind, version: UInt8) -> [UInt8] { magic + [version, kind.rawValue] }

    /// The kind of a header frame, or why it is not one.
    public static func parse(_ frame: [UInt8]) -> Result<WireKind, WireError> {
        guard frame.count == 4, frame[0] == magic[0], frame[1] == magic[1] else { return .failure(.init("not a Tessera header frame")) }
        guard frame[2] == version else { return .failure(.init("protocol version \(frame[2]), this build speaks \(version)")) }
        guard let kind = WireKind(rawValue: frame[3]) else { return .failure(.init("unknown message kind \(frame[3])")) }
        return .success(kind)
    }
}

/// Why an incoming message was dropped.
public struct WireError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
