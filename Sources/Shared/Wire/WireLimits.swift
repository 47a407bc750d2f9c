import Core
import Tiling

/// The bounds every value on the wire must keep (docs/PROTOCOL.md, "Field types"). Both
/// sides and cluster.conf use these, so a value the configuration allows is one the wire
/// allows, and a value from the wire can never break a guarantee such as liveness.
public enum WireLimits {
    /// Milliseconds between heartbeats (`welcome.heartbeatMilliseconds`; cluster.conf's
    /// `[heartbeat] interval` in seconds).
    public static let heartbeatMilliseconds: ClosedRange<Int> = 50...60_000
    /// Heartbeats missed before a peer counts as gone. With the interval's bound, a worker
    /// notices a silent coordinator within 100 minutes whatever a coordinator says.
    public static let liveness: ClosedRange<Int> = 2...100
    /// Tiles sent but not answered per worker.
    public static let credit: ClosedRange<Int> = 1...64
    /// Tile sides in pixels.
    public static let tileSide: ClosedRange<Int> = 16...4096
    /// The largest pixel size, in µm, a tile or submission may state.
    public static let pixelSize = 1000.0
    /// A slide's size in bytes (256 TiB).
    public static let slideBytes: ClosedRange<UInt64> = 1...(1 << 48)
    /// Threads a worker computes with.
    public static let threads: ClosedRange<Int> = 1...1024
    /// Bytes of a name, member, architecture, kernels text or path.
    public static let textBytes = 4096
    /// Bytes of a reason or note.
    public static let reasonBytes = 65_536
    /// Bytes a `fetch` may ask for, and a `chunk` may carry.
    public static let chunkBytes = 1 << 20
    /// Bytes of one frame of a `trainState` message (a model's weights or optimiser state:
    /// 264 MB for EfficientNet-b7's AdamW moments).
    public static let stateBytes = 1 << 30
    /// Steps and tiles a training step of a run may have.
    public static let trainingSteps: ClosedRange<Int> = 1...100_000_000
    public static let trainingBatch: ClosedRange<Int> = 1...65_536
    /// Workers in one ring.
    public static let ringMembers: ClosedRange<Int> = 1...1024
}

/// A message body that knows which of its decoded values are acceptable:
/// `WireCodec.decode` rejects a body whose fields decode but break a rule of
/// docs/PROTOCOL.md, so handlers only ever see values inside `WireLimits`.
public protocol WireBody: Codable, Sendable {
    /// Why the body is malformed, or nil when it is not.
    var flaw: String? { get }
}

extension WireBody {
    public var flaw: String? { nil }
}

/// Checks for the rules of `WireBody.flaw`: each returns the complaint or nil.
enum WireRule {
    static func range<T: Comparable>(_ name: String, _ value: T, _ range: ClosedRange<T>) -> String? {
        range.contains(value) ? nil : "\(name) \(value) is outside \(range.lowerBound)…\(range.upperBound)"
    }

    /// A pixel size in µm: above 0, at most `WireLimits.pixelSize` (NaN fails).
    static func pixelSize(_ name: String, _ value: Double) -> String? {
        value > 0 && value <= WireLimits.pixelSize ? nil : "\(name) \(value) is outside (0, \(WireLimits.pixelSize)] µm"
    }

    static func text(_ name: String, _ value: String, max: Int = WireLimits.textBytes, empty: Bool = true) -> String? {
        if !empty && value.isEmpty { return "\(name) is empty" }
        return value.utf8.count <= max ? nil : "\(name) is longer than \(max) bytes"
    }

    /// A digest: 16 hexadecimal digits (either case; compared in lower case).
    static func digest(_ name: String, _ value: String, empty: Bool = false) -> String? {
        if empty && value.isEmpty { return nil }
        return value.utf8.count == 16 && value.utf8.allSatisfy(\.isHexDigit) ? nil : "\(name) \"\(value.prefix(40))\" is not 16 hexadecimal digits"
    }

    /// The first complaint of several.
    static func first(_ checks: String?...) -> String? { checks.lazy.compactMap { $0 }.first }
}

extension UInt8 {
    var isHexDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
}
