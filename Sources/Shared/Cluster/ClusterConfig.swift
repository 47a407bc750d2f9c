import Core
import Foundation
import Segmentation

/// The cluster's description, read from `cluster.conf` (format: docs/CONFIG.md).
///
/// One file serves every process: the coordinator binds the endpoints, workers and clients
/// connect to them, and all agree on the members and inference settings.
public struct ClusterConfig: Sendable, Equatable {
    /// One ensemble member: a model, its weights and its weight in the average.
    public struct Member: Sendable, Equatable {
        public var name: String
        public var architecture: String
        public var weights: String?
        /// Weight in the ensemble average, in hundredths (1.0 → 100).
        public var weight: Int
        /// The `constant` architecture's probability.
        public var value: Double?
        /// Pinned weights digest (hex); workers with other weights are refused.
        public var digest: String?
        /// The `constant` architecture's seconds a tile (standing in for a model's time).
        public var delay: Double?
        /// CNN input normalisation (per channel, of values in [0, 1]); nil for the default.
        public var mean: [Float]?
        public var std: [Float]?
        /// Stain normalisation of its tiles ("macenko", "reinhard"), towards `stainReference`
        /// (a `tessera stain fit` file); nil for none.
        public var stain: StainMethod?
        public var stainReference: String?
        /// µm per pixel it was trained at: tiles are resampled to it. nil: it takes the
        /// slide's pixels as they are.
        public var pixelSize: Double?
        public var line: Int
    }

    /// CURVE keys, Z85-encoded (40 characters each).
    public struct Security: Sendable, Equatable {
        public var coordinatorPublic: String
        public var coordinatorSecret: String?
        public var workerPublic: String
        public var workerSecret: String?
        public var clientPublic: String
        public var clientSecret: String?
    }

    /// Where workers connect (the coordinator binds it).
    public var workerEndpoint = "tcp://127.0.0.1:5571"
    /// Where clients (`submit`, `status`) connect.
    public var clientEndpoint = "tcp://127.0.0.1:5570"
    /// Where the coordinator answers metrics requests; nil for none.
    public var metricsEndpoint: String? = nil
    /// The coordinator's HTTP endpoint (/metrics for Prometheus, / for the status page); nil: off.
    public var http: HTTP? = nil

    /// `[http]`: where the status server listens, and the token it asks for.
    public struct HTTP: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// Required of every request (`Authorization: Bearer TOKEN`, or `?token=` for a
        /// browser) when set; needed when [security] is, or when `host` is not loopback.
        public var token: String?
        public var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" }
    }
    /// Where the coordinator keeps uploaded slides and results.
    public var stateDirectory = NSTemporaryDirectory() + "tessera-coordinator"
    /// Seconds a job may wait for a member that has no live worker before it fails.
    public var memberDeadline: Double = 600
    /// Seconds a finished or failed job's mask, RLE and record are kept (for `--attach`
    /// and `status`) after it ended or its result was last fetched.
    public var keepResults: Double = 7 * 24 * 3600
    /// Seconds an upload may go without a byte arriving (from its submit or attach on)
    /// before its job fails.
    public var uploadTimeout: Double = 600
    /// Tiles sent but not answered per worker.
    public var workerCredit = 4
    /// Threads decoding a job's slide; nil: `defaultSlideReaders`.
    public var slideReaders: Int? = nil

    /// Slide-reading threads when the file does not say: one a core beyond the four the
    /// coordinator's other threads (sockets, libzmq, stitcher, mask writer) can keep busy,
    /// at most four. One on small machines, where a second would only compete for cores.
    public static var defaultSlideReaders: Int {
        max(1, min(4, ProcessInfo.processInfo.activeProcessorCount - 4))
    }

    public var settings = SegmentationSettings()

    /// Seconds between heartbeats, and heartbeats missed before a peer counts as gone.
    public var heartbeatInterval: Double = 1
    public var heartbeatLiveness = 3
    /// Heartbeats a worker in a training run (and the coordinator, as that worker sees it)
    /// may miss: a peer wrongly counted gone costs a run a redone step and a state transfer,
    /// where it costs a slide job a requeued tile, so the window is wider.
    public var heartbeatTrainingLiveness = 10

    public var members: [Member] = []
    public var security: Security? = nil

    /// The path it was read from, for messages.
    public var source = "cluster.conf"

    public init() {}

    /// The member named `name`, or an error listing the members there are.
    public func member(named name: String) throws -> Member {
        guard let member = members.first(where: { $0.name == name }) else {
            throw TesseraError(source, "no member \"\(name)\" (members: \(members.map(\.name).joined(separator: ", ")))")
        }
        return member
    }

    /// Reads and checks `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TesseraError(path, "cannot read the configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TesseraError(path, "not UTF-8 text") }
        try self.init(parsing: text, source: path)
    }

    /// Parses configuration text; every error names `source` and the line.
    public init(parsing text: String, source: String) throws {
        self.source = source
        var section = ""
        var memberIndex: Int? = nil
        var organ = ""
        var seen: Set<String> = []
        var keys: [String: (String, Int)] = [:]  // security keys until the end
        var httpToken: String? = nil
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = number + 1
            func fail(_ reason: String) -> TesseraError { TesseraError(source, "line \(line): \(reason)") }
            // A comment is a line starting with #, or # after white space that follows a
            // value; a value may itself begin with # (Z85 keys hold # anywhere).
            var trimmed = rawLine.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let valueStart = trimmed.firstIndex(of: "=").map { trimmed.index(after: $0) } ?? trimmed.startIndex
            var index = valueStart
            while index < trimmed.endIndex, trimmed[index].isWhitespace { index = trimmed.index(after: index) }
            while index < trimmed.endIndex {
                let next = trimmed.index(after: index)
                if trimmed[index].isWhitespace, next < trimmed.endIndex, trimmed[next] == "#" {
                    trimmed = trimmed[..<index].trimmingCharacters(in: .whitespaces)
                    break
                }
                index = next
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]") else { throw fail("a section header must end with ]") }
                let name = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                let words = name.split(separator: " ")
                if words.count == 2 && words[0] == "member" {
                    let memberName = String(words[1])
                    guard memberName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                        throw fail("member names use letters, digits, - and _ only")
                    }
                    guard !members.contains(where: { $0.name == memberName }) else { throw fail("member \"\(memberName)\" is defined twice") }
                    members.append(
                        Member(
                            name: memberName, architecture: "", weights: nil, weight: 100, value: nil, digest: nil, delay: nil, mean: nil, std: nil,
                            stain: nil, stainReference: nil, pixelSize: nil, line: line))
                    memberIndex = members.count - 1
                    section = "member"
                } else if words.count == 2 && words[0] == "organ" {
                    organ = String(words[1]).lowercased()
                    guard organ.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                        throw fail("organ names use letters, digits, - and _ only")
                    }
                    guard !seen.contains("organ " + organ) else { throw fail("organ \"\(organ)\" is defined twice") }
                    seen.insert("organ " + organ)
                    section = "organ"
                    memberIndex = nil
                } else {
                    guard ["coordinator", "inference", "heartbeat", "security", "http"].contains(name) else {
                        throw fail("unknown section [\(name)] (sections: coordinator, inference, heartbeat, security, http, member NAME, organ NAME)")
                    }
                    guard !seen.contains(name) else { throw fail("section [\(name)] appears twice") }
                    seen.insert(name)
                    section = name
                    memberIndex = nil
                }
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { throw fail("\(key) has no value") }
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let v = Int(value), range.contains(v) else {
                    throw fail("\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(value)\"")
                }
                return v
            }
            func double(_ range: ClosedRange<Double>) throws -> Double {
                guard let v = Double(value), range.contains(v) else {
                    throw fail("\(key) must be a number from \(range.lowerBound) to \(range.upperBound), not \"\(value)\"")
                }
                return v
            }
            func stainMethod() throws -> StainMethod? {
                if value == "off" { return nil }
                guard let method = StainMethod(rawValue: value) else { throw fail("\(key) must be macenko, reinhard or off") }
                return method
            }
            func endpoint() throws -> String {
                guard value.hasPrefix("tcp://") || value.hasPrefix("ipc://") || value.hasPrefix("inproc://") else {
                    throw fail("\(key) must be a ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH), not \"\(value)\"")
                }
                return value
            }
            switch (section, key) {
            case ("coordinator", "workers"): workerEndpoint = try endpoint()
            case ("coordinator", "clients"): clientEndpoint = try endpoint()
            case ("coordinator", "metrics"): metricsEndpoint = try endpoint()
            case ("coordinator", "state"): stateDirectory = value
            case ("coordinator", "member_deadline"): memberDeadline = try double(0.1...1e7)
            case ("coordinator", "keep_results"): keepResults = try double(1...1e9)
            case ("coordinator", "upload_timeout"): uploadTimeout = try double(1...1e7)
            case ("coordinator", "worker_credit"): workerCredit = try int(WireLimits.credit)
            case ("coordinator", "slide_readers"):
                if value == "auto" {
                    slideReaders = nil
                } else {
                    guard let count = Int(value), (1...16).contains(count) else {
                        throw fail("slide_readers must be auto or a whole number from 1 to 16, not \"\(value)\"")
                    }
                    slideReaders = count
                }
            case ("inference", "tile"): settings.tileSize = try int(WireLimits.tileSide)
            case ("inference", "margin"): settings.margin = try int(0...2047)
            case ("inference", "stride"): settings.stride = try int(1...4096)
            case ("inference", "window"):
                guard let window = BlendWindow(rawValue: value) else { throw fail("window must be constant, linear or gaussian") }
                settings.window = window
            case ("inference", "threshold"): settings.threshold = try double(0...1)
            case ("inference", "flips"):
                guard let flips = FlipSet(rawValue: value) else { throw fail("flips must be none, h, v or hv") }
                settings.flips = flips
            case ("inference", "maps"):
                guard let maps = MapEncoding(name: value) else { throw fail("maps must be uint8 or float16") }
                settings.maps = maps
            case ("inference", "tissue"):
                guard let method = TissueDetection.Method(rawValue: value) else { throw fail("tissue must be saturation, otsu or off") }
                settings.tissue.method = method
            case ("inference", "tissue_saturation"): settings.tissue.saturation = try double(0...1)
            case ("inference", "min_object_area"): settings.cleanup.minimumObjectArea = try int(0...Int(Int32.max))
            case ("inference", "fill_holes_below"): settings.cleanup.holeArea = try int(0...Int(Int32.max))
            case ("inference", "stain"):
                settings.slideStain = try stainMethod()
            case ("inference", "stain_reference"): settings.slideStainReference = value
            case ("inference", "reader"):
                guard let backend = SlideReader.Backend(rawValue: value) else { throw fail("reader must be auto, tiff or openslide") }
                settings.reader = backend
            case ("inference", "pyramid"):
                guard value == "on" || value == "off" else { throw fail("pyramid must be on or off") }
                settings.useLevels = value == "on"
            case ("heartbeat", "interval"):
                heartbeatInterval = try double(
                    Double(WireLimits.heartbeatMilliseconds.lowerBound) / 1000...Double(WireLimits.heartbeatMilliseconds.upperBound) / 1000)
            case ("heartbeat", "liveness"): heartbeatLiveness = try int(WireLimits.liveness)
            case ("heartbeat", "training_liveness"): heartbeatTrainingLiveness = try int(WireLimits.liveness)
            case ("http", "listen"):
                guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port),
                    colon != value.startIndex
                else {
                    throw fail("listen must be HOST:PORT (e.g. 127.0.0.1:8080), not \"\(value)\"")
                }
                let host = String(value[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                http = HTTP(host: host, port: port, token: http?.token)
            case ("http", "token"):
                guard value.utf8.count >= 16, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }) else {
                    throw fail("token must be at least 16 letters, digits or -_.~ (e.g. the output of `openssl rand -hex 16`)")
                }
                httpToken = value
            case ("security", _):
                guard ["coordinator_public", "coordinator_secret", "worker_public", "worker_secret", "client_public", "client_secret"].contains(key) else {
                    throw fail("unknown key \(key) in [security]")
                }
                guard value.utf8.count == 40 else { throw fail("\(key) must be a 40-character Z85 CURVE key") }
                keys[key] = (value, line)
            case ("member", "architecture"): members[memberIndex!].architecture = value
            case ("member", "weights"): members[memberIndex!].weights = value
            case ("member", "weight"):
                let w = try double(0.01...10.24)
                members[memberIndex!].weight = Int((w * 100).rounded())
            case ("member", "value"): members[memberIndex!].value = try double(0...1)
            case ("member", "digest"): members[memberIndex!].digest = value.lowercased()
            case ("member", "delay"): members[memberIndex!].delay = try double(0...10)
            case ("member", "mean"), ("member", "std"):
                let values = value.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
                guard values.count == 3, key == "mean" || values.allSatisfy({ $0 > 0 }) else {
                    throw fail("\(key) must be three comma-separated numbers\(key == "std" ? ", all positive" : "")")
                }
                if key == "mean" { members[memberIndex!].mean = values } else { members[memberIndex!].std = values }
            case ("member", "stain"):
                members[memberIndex!].stain = try stainMethod()
            case ("member", "stain_reference"): members[memberIndex!].stainReference = value
            case ("member", "pixel_size"): members[memberIndex!].pixelSize = try double(0.001...WireLimits.pixelSize)
            case ("", _): throw fail("\(key) is outside any section")
            case ("organ", "threshold"): settings.organThresholds[organ] = try double(0...1)
            default: throw fail("unknown key \(key) in [\(section == "organ" ? "organ " + organ : section)]")
            }
        }
        if let token = httpToken {
            guard http != nil else { throw TesseraError(source, "[http] sets a token but no listen address") }
            http?.token = token
        }
        for member in members where member.architecture.isEmpty {
            throw TesseraError(source, "line \(member.line): member \"\(member.name)\" has no architecture")
        }
        guard !members.isEmpty else { throw TesseraError(source, "no [member NAME] section: the ensemble is empty") }
        do { _ = try settings.plan(width: 1, height: 1) } catch let error as TesseraError {
            throw TesseraError(source, "[inference]: \(error.reason)")
        }
        if !keys.isEmpty {
            func key(_ name: String) throws -> String {
                guard let (value, _) = keys[name] else {
                    throw TesseraError(source, "[security] sets some keys but not \(name): give coordinator_public, worker_public and client_public at least")
                }
                return value
            }
            security = Security(
                coordinatorPublic: try key("coordinator_public"), coordinatorSecret: keys["coordinator_secret"]?.0,
                workerPublic: try key("worker_public"), workerSecret: keys["worker_secret"]?.0,
                clientPublic: try key("client_public"), clientSecret: keys["client_secret"]?.0)
        }
        if let http, http.token == nil {
            if security != nil {
                throw TesseraError(source, "[http] needs a token when [security] is set: anyone who reaches \(http.host):\(http.port) would see the cluster")
            }
            if !http.isLoopback { throw TesseraError(source, "[http] listens on \(http.host), beyond this machine: set a token, or listen on 127.0.0.1") }
        }
    }

    /// Member weights as the stitcher takes them, in member order.
    public var memberWeights: [Int] { members.map(\.weight) }
}
