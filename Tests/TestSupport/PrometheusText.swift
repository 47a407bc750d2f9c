import Foundation

/// A checking parser of Prometheus's text exposition format (version 0.0.4), written from
/// its specification (prometheus.io/docs/instrumenting/exposition_formats): what a scrape
/// of /metrics must satisfy for Prometheus to take it.
/// - Lines end in `\n`; empty lines are ignored; `# HELP name text` and `# TYPE name type`
///   are the only meaningful comments, other `#` lines are ignored.
/// - A sample is `name{label="value",…} value [timestamp]`: metric names match
///   `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` (not starting `__`),
///   label values are double-quoted with `\\`, `\"` and `\n` escapes; values are Go floats
///   (`+Inf`, `-Inf`, `NaN` included); a timestamp is an integer of milliseconds.
/// - A family's TYPE (counter, gauge, histogram, summary, untyped) comes at most once, before
///   its first sample; all of a family's lines are together; no series appears twice.
/// - Histograms: `_bucket` series carry `le`, counts never fall as `le` grows, a `+Inf`
///   bucket exists and equals `_count`; `_sum` and `_count` exist. Counters are not negative.
public struct PrometheusText {
    public struct Sample: Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct Malformed: Error, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public private(set) var types: [String: String] = [:]
    public private(set) var samples: [Sample] = []

    public init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Malformed(line: 0, reason: "the text must end with a newline") }
        var familyOrder: [String] = []
        var seen = Set<String>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let number = index + 1, line = String(raw)
            func fail(_ reason: String) -> Malformed { Malformed(line: number, reason: reason) }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
                guard words.count >= 3, words[0] == "#", words[1] == "TYPE" || words[1] == "HELP" else { continue }
                guard Self.isMetricName(words[2]) else { throw fail("\(words[2]) is not a metric name") }
                if words[1] == "TYPE" {
                    guard words.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(words[3]) else {
                        throw fail("TYPE of \(words[2]) must be counter, gauge, histogram, summary or untyped")
                    }
                    guard types[words[2]] == nil else { throw fail("a second TYPE line for \(words[2])") }
                    guard !familyOrder.contains(words[2]) else { throw fail("TYPE of \(words[2]) after its samples") }
                    types[words[2]] = words[3]
                    familyOrder.append(words[2])
                }
                continue
            }
            let sample = try Self.sample(line, fail: fail)
            let family = family(of: sample.name)
            if familyOrder.last != family {
                guard !familyOrder.contains(family) else { throw fail("\(family)'s lines are not together") }
                familyOrder.append(family)
            }
            let key = sample.name + sample.labels.sorted { $0.key < $1.key }.map { "|\($0.key)=\($0.value)" }.joined()
            guard seen.insert(key).inserted else { throw fail("the series \(key) appears twice") }
            if types[family] == "counter", sample.value < 0 { throw fail("counter \(sample.name) is negative") }
            samples.append(sample)
        }
        try checkHistograms()
    }

    /// The family a sample belongs to: its name, or a histogram's or summary's base name.
    func family(of name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || (types[base] == "summary" && suffix != "_bucket") { return base }
        }
        return name
    }

    /// The value of the series `name` with exactly `labels`, if there is one.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    private func checkHistograms() throws {
        for (name, type) in types where type == "histogram" {
            var series: [[String: String]: [(le: Double, count: Double)]] = [:]
            for sample in samples where sample.name == name + "_bucket" {
                guard let le = sample.labels["le"], let bound = Self.number(le) else { throw Malformed(line: 0, reason: "\(name)_bucket without a numeric le") }
                var rest = sample.labels
                rest["le"] = nil
                series[rest, default: []].append((bound, sample.value))
            }
            for (labels, buckets) in series {
                let sorted = buckets.sorted { $0.le < $1.le }
                guard zip(sorted, sorted.dropFirst()).allSatisfy({ $0.count <= $1.count }) else {
                    throw Malformed(line: 0, reason: "\(name) \(labels): bucket counts fall as le grows")
                }
                guard let top = sorted.last, top.le == .infinity else { throw Malformed(line: 0, reason: "\(name) \(labels): no +Inf bucket") }
                guard let count = value(name + "_count", labels), value(name + "_sum", labels) != nil else {
                    throw Malformed(line: 0, reason: "\(name) \(labels): no _sum or _count")
                }
                guard count == top.count else {
                    throw Malformed(line: 0, reason: "\(name) \(labels): _count \(count) differs from the +Inf bucket's \(top.count)")
                }
            }
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_", !name.hasPrefix("__") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }

    /// A Go float as the format writes it.
    static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard !text.isEmpty, text.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func sample(_ line: String, fail: (String) -> Malformed) throws -> Sample {
        var scalars = Substring(line)
        let name = String(scalars.prefix { !"{ ".contains($0) })
        guard isMetricName(name) else { throw fail("\(name) is not a metric name") }
        scalars = scalars.dropFirst(name.count)
        var labels: [String: String] = [:]
        if scalars.first == "{" {
            scalars = scalars.dropFirst()
            while scalars.first != "}" {
                let label = String(scalars.prefix { $0 != "=" })
                guard isLabelName(label) else { throw fail("\(label) is not a label name") }
                scalars = scalars.dropFirst(label.count)
                guard scalars.hasPrefix("=\"") else { throw fail("label \(label) has no quoted value") }
                scalars = scalars.dropFirst(2)
                var value = ""
                while true {
                    guard let c = scalars.first else { throw fail("label \(label)'s value is not closed") }
                    scalars = scalars.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let escaped = scalars.first, "\\\"n".contains(escaped) else { throw fail("a bad escape in label \(label)") }
                        value.append(escaped == "n" ? "\n" : escaped)
                        scalars = scalars.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
                guard labels[label] == nil else { throw fail("label \(label) given twice") }
                labels[label] = value
                if scalars.first == "," { scalars = scalars.dropFirst() } else if scalars.first != "}" { throw fail("labels must be separated by commas") }
            }
            scalars = scalars.dropFirst()
        }
        let fields = scalars.split(separator: " ", omittingEmptySubsequences: true)
        guard scalars.first == " ", (1...2).contains(fields.count), let value = number(String(fields[0])) else {
            throw fail("a sample is NAME{LABELS} VALUE [TIMESTAMP]")
        }
        if fields.count == 2, Int64(fields[1]) == nil { throw fail("the timestamp \(fields[1]) is not an integer") }
        return Sample(name: name, labels: labels, value: value)
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
