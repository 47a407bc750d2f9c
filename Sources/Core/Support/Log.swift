import Foundation
import Synchronization

/// Plain, timestamped log lines on standard error, one per event: message kinds and ids,
/// never pixel data.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    /// Who is logging, e.g. "coordinator" or "worker unext-1".
    public let component: String
    public let minimum: Level

    /// Silences every log of the process (in-process drivers such as the fuzzer, which run
    /// the roles millions of times). Atomic: threads log while a driver sets it.
    public static var silenced: Bool {
        get { silence.load(ordering: .relaxed) }
        set { silence.store(newValue, ordering: .relaxed) }
    }
    private static let silence = Atomic<Bool>(false)

    public init(_ component: String, minimum: Level = .info) {
        self.component = component
        self.minimum = minimum
    }

    public func debug(_ message: @autoclosure () -> String) { write(.debug, message) }
    public func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public func error(_ message: @autoclosure () -> String) { write(.error, message) }

    private func write(_ level: Level, _ message: () -> String) {
        guard level >= minimum, !Log.silenced else { return }
        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        FileHandle.standardError.write(Data("\(stamp) \(level.name) \(component): \(message())\n".utf8))
    }
}
