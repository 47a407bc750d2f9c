import Foundation
import Logging
import Synchronization

/// Tessera's logs, through swift-log: one event a line on standard error, with metadata
/// (job, member, worker, run, step) as key=value pairs, or as one JSON object a line for
/// log collectors (`--log-format json` or `TESSERA_LOG_FORMAT=json`). Message kinds and
/// ids, never pixel data. Each `Log` makes its `Logger` with `TesseraLogHandler`, so no
/// process-wide bootstrap is needed and in-process drivers may make any number.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var logging: Logger.Level { [.debug, .info, .warning, .error][rawValue] }
    }

    /// How lines are written: `text` (timestamp level component: message key=value…) or
    /// `json` (one object a line: time, level, component, message and the metadata).
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    /// Who is logging, e.g. "coordinator" or "worker unext-1".
    public let component: String
    public let minimum: Level
    private var logger: Logger

    /// Silences every log of the process (in-process drivers such as the fuzzer, which run
    /// the roles millions of times). Atomic: threads log while a driver sets it.
    public static var silenced: Bool {
        get { silence.load(ordering: .relaxed) }
        set { silence.store(newValue, ordering: .relaxed) }
    }
    private static let silence = Atomic<Bool>(false)

    /// The process's line format; starts from `TESSERA_LOG_FORMAT` (text unless "json").
    public static var format: Format {
        get { jsonFormat.load(ordering: .relaxed) ? .json : .text }
        set { jsonFormat.store(newValue == .json, ordering: .relaxed) }
    }
    private static let jsonFormat = Atomic<Bool>(ProcessInfo.processInfo.environment["TESSERA_LOG_FORMAT"] == "json")

    public init(_ component: String, minimum: Level = .info, metadata: [String: String] = [:]) {
        self.component = component
        self.minimum = minimum
        logger = Logger(label: component) { TesseraLogHandler(label: $0) }
        logger.logLevel = minimum.logging
        for (key, value) in metadata { logger[metadataKey: key] = .string(value) }
    }

    /// This log with more metadata on every line (e.g. a job's id).
    public func with(_ metadata: [String: String]) -> Log {
        var copy = self
        for (key, value) in metadata { copy.logger[metadataKey: key] = .string(value) }
        return copy
    }

    public func debug(_ message: @autoclosure () -> String, _ metadata: [String: String] = [:]) { write(.debug, message, metadata) }
    public func info(_ message: @autoclosure () -> String, _ metadata: [String: String] = [:]) { write(.info, message, metadata) }
    public func warning(_ message: @autoclosure () -> String, _ metadata: [String: String] = [:]) { write(.warning, message, metadata) }
    public func error(_ message: @autoclosure () -> String, _ metadata: [String: String] = [:]) { write(.error, message, metadata) }

    private func write(_ level: Level, _ message: () -> String, _ metadata: [String: String]) {
        guard level >= minimum, !Log.silenced else { return }
        logger.log(level: level.logging, "\(message())", metadata: metadata.isEmpty ? nil : metadata.mapValues { .string($0) })
    }
}

/// swift-log's handler for Tessera's lines (see `Log`).
public struct TesseraLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line = Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: all, format: Log.format)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// One line, newline included.
    public static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: Log.Format) -> String {
        let stamp = ISO8601DateFormatter.string(from: time, timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        let name = level == .warning ? "warning" : level.rawValue
        let pairs = metadata.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        switch format {
        case .text:
            let suffix = pairs.map { key, value in " \(key)=\(value.contains(" ") ? "\"\(value)\"" : value)" }.joined()
            return "\(stamp) \(name) \(label): \(message)\(suffix)\n"
        case .json:
            var object: [String: String] = ["time": stamp, "level": name, "component": label, "message": message]
            for (key, value) in pairs where object[key] == nil { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}
