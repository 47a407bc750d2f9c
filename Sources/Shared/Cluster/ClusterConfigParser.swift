import Core
import Foundation
import Tiling

/// cluster.conf's text into a `ClusterConfig` (docs/CONFIG.md): lines of `[section]` and
/// `key = value`, each key set by the function of its section, then the checks that need
/// the whole file. Every error names the file and, where it has one, the line.
extension ClusterConfig {
    public init(parsing text: String, source: String) throws {
        var parser = ClusterConfigParser(source: source)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            try parser.read(line, number: number + 1)
        }
        self = try parser.finish()
    }
}

/// One `key = value` line, and its value read as the key needs it.
struct ConfigEntry {
    let source: String
    let line: Int
    let key: String
    let value: String

    func fail(_ reason: String) -> TesseraError { TesseraError(source, "line \(line): \(reason)") }

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

    /// A value of a fixed set, refused with `choices` named.
    func choice<T: RawRepresentable>(_ type: T.Type, _ choices: String) throws -> T where T.RawValue == String {
        guard let v = T(rawValue: value) else { throw fail("\(key) must be \(choices)") }
        return v
    }

    /// A stain method, or nil for "off".
    func stainMethod() throws -> StainMethod? {
        value == "off" ? nil : try choice(StainMethod.self, "macenko, reinhard or off")
    }

    func endpoint() throws -> String {
        guard value.hasPrefix("tcp://") || value.hasPrefix("ipc://") || value.hasPrefix("inproc://") else {
            throw fail("\(key) must be a ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH), not \"\(value)\"")
        }
        return value
    }
}

/// The parse in progress: the configuration so far and where in the file it is.
struct ClusterConfigParser {
    private var config = ClusterConfig()
    private let source: String
    private var section = ""
    private var memberIndex: Int?
    private var organ = ""
    private var seen: Set<String> = []
    /// [security] keys and [http]'s token, checked once the whole file is read.
    private var keys: [String: String] = [:]
    private var httpToken: String?

    init(source: String) {
        self.source = source
        config.source = source
    }

    /// A comment is a line starting with #, or # after white space that follows a value; a
    /// value may itself begin with # (Z85 keys hold # anywhere).
    static func strippingComment(_ raw: Substring) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("#") { return "" }
        var index = trimmed.firstIndex(of: "=").map { trimmed.index(after: $0) } ?? trimmed.startIndex
        while index < trimmed.endIndex, trimmed[index].isWhitespace { index = trimmed.index(after: index) }
        while index < trimmed.endIndex {
            let next = trimmed.index(after: index)
            if trimmed[index].isWhitespace, next < trimmed.endIndex, trimmed[next] == "#" {
                return trimmed[..<index].trimmingCharacters(in: .whitespaces)
            }
            index = next
        }
        return trimmed
    }

    mutating func read(_ raw: Substring, number line: Int) throws {
        let text = Self.strippingComment(raw)
        if text.isEmpty { return }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw TesseraError(source, "line \(line): a section header must end with ]") }
            return try enter(text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces), line: line)
        }
        guard let equals = text.firstIndex(of: "=") else { throw TesseraError(source, "line \(line): expected key = value") }
        let entry = ConfigEntry(
            source: source, line: line, key: text[..<equals].trimmingCharacters(in: .whitespaces),
            value: text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces))
        guard !entry.value.isEmpty else { throw entry.fail("\(entry.key) has no value") }
        switch section {
        case "coordinator": try setCoordinator(entry)
        case "inference": try setInference(entry)
        case "heartbeat": try setHeartbeat(entry)
        case "http": try setHTTP(entry)
        case "security": try setSecurity(entry)
        case "member": try setMember(entry)
        case "organ":
            guard entry.key == "threshold" else { throw entry.fail("unknown key \(entry.key) in [organ \(organ)]") }
            config.settings.organThresholds[organ] = try entry.double(0...1)
        default: throw entry.fail("\(entry.key) is outside any section")
        }
    }

    private static func isName(_ name: String) -> Bool { name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } }

    private mutating func enter(_ name: String, line: Int) throws {
        func fail(_ reason: String) -> TesseraError { TesseraError(source, "line \(line): \(reason)") }
        let words = name.split(separator: " ")
        memberIndex = nil
        if words.count == 2 && words[0] == "member" {
            let memberName = String(words[1])
            guard Self.isName(memberName) else { throw fail("member names use letters, digits, - and _ only") }
            guard !config.members.contains(where: { $0.name == memberName }) else { throw fail("member \"\(memberName)\" is defined twice") }
            config.members.append(
                ClusterConfig.Member(
                    name: memberName, architecture: "", weights: nil, weight: 100, value: nil, digest: nil, delay: nil, mean: nil, std: nil,
                    stain: nil, stainReference: nil, pixelSize: nil, line: line))
            memberIndex = config.members.count - 1
            section = "member"
        } else if words.count == 2 && words[0] == "organ" {
            organ = String(words[1]).lowercased()
            guard Self.isName(organ) else { throw fail("organ names use letters, digits, - and _ only") }
            guard seen.insert("organ " + organ).inserted else { throw fail("organ \"\(organ)\" is defined twice") }
            section = "organ"
        } else {
            guard ["coordinator", "inference", "heartbeat", "security", "http"].contains(name) else {
                throw fail("unknown section [\(name)] (sections: coordinator, inference, heartbeat, security, http, member NAME, organ NAME)")
            }
            guard seen.insert(name).inserted else { throw fail("section [\(name)] appears twice") }
            section = name
        }
    }

    private mutating func setCoordinator(_ entry: ConfigEntry) throws {
        switch entry.key {
        case "workers": config.workerEndpoint = try entry.endpoint()
        case "clients": config.clientEndpoint = try entry.endpoint()
        case "metrics": config.metricsEndpoint = try entry.endpoint()
        case "state": config.stateDirectory = entry.value
        case "member_deadline": config.memberDeadline = try entry.double(0.1...1e7)
        case "keep_results": config.keepResults = try entry.double(1...1e9)
        case "upload_timeout": config.uploadTimeout = try entry.double(1...1e7)
        case "worker_credit": config.workerCredit = try entry.int(WireLimits.credit)
        case "slide_readers":
            if entry.value == "auto" {
                config.slideReaders = nil
            } else {
                guard let count = Int(entry.value), (1...16).contains(count) else {
                    throw entry.fail("slide_readers must be auto or a whole number from 1 to 16, not \"\(entry.value)\"")
                }
                config.slideReaders = count
            }
        default: throw entry.fail("unknown key \(entry.key) in [coordinator]")
        }
    }

    private mutating func setInference(_ entry: ConfigEntry) throws {
        switch entry.key {
        case "tile": config.settings.tileSize = try entry.int(WireLimits.tileSide)
        case "margin": config.settings.margin = try entry.int(0...2047)
        case "stride": config.settings.stride = try entry.int(1...4096)
        case "window": config.settings.window = try entry.choice(BlendWindow.self, "constant, linear or gaussian")
        case "threshold": config.settings.threshold = try entry.double(0...1)
        case "flips": config.settings.flips = try entry.choice(FlipSet.self, "none, h, v or hv")
        case "maps":
            guard let maps = MapEncoding(name: entry.value) else { throw entry.fail("maps must be uint8 or float16") }
            config.settings.maps = maps
        case "tissue": config.settings.tissue.method = try entry.choice(TissueDetection.Method.self, "saturation, otsu or off")
        case "tissue_saturation": config.settings.tissue.saturation = try entry.double(0...1)
        case "min_object_area": config.settings.cleanup.minimumObjectArea = try entry.int(0...Int(Int32.max))
        case "fill_holes_below": config.settings.cleanup.holeArea = try entry.int(0...Int(Int32.max))
        case "stain": config.settings.slideStain = try entry.stainMethod()
        case "stain_reference": config.settings.slideStainReference = entry.value
        case "reader": config.settings.reader = try entry.choice(SlideBackend.self, "auto, tiff or openslide")
        case "pyramid":
            guard entry.value == "on" || entry.value == "off" else { throw entry.fail("pyramid must be on or off") }
            config.settings.useLevels = entry.value == "on"
        default: throw entry.fail("unknown key \(entry.key) in [inference]")
        }
    }

    private mutating func setHeartbeat(_ entry: ConfigEntry) throws {
        switch entry.key {
        case "interval":
            let milliseconds = WireLimits.heartbeatMilliseconds
            config.heartbeatInterval = try entry.double(Double(milliseconds.lowerBound) / 1000...Double(milliseconds.upperBound) / 1000)
        case "liveness": config.heartbeatLiveness = try entry.int(WireLimits.liveness)
        case "training_liveness": config.heartbeatTrainingLiveness = try entry.int(WireLimits.liveness)
        default: throw entry.fail("unknown key \(entry.key) in [heartbeat]")
        }
    }

    private mutating func setHTTP(_ entry: ConfigEntry) throws {
        let value = entry.value
        switch entry.key {
        case "listen":
            guard let colon = value.lastIndex(of: ":"), colon != value.startIndex, let port = Int(value[value.index(after: colon)...]),
                (0...65535).contains(port)
            else { throw entry.fail("listen must be HOST:PORT (e.g. 127.0.0.1:8080), not \"\(value)\"") }
            config.http = ClusterConfig.HTTP(host: String(value[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
        case "token":
            guard value.utf8.count >= 16, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }) else {
                throw entry.fail("token must be at least 16 letters, digits or -_.~ (e.g. the output of `openssl rand -hex 16`)")
            }
            httpToken = value
        default: throw entry.fail("unknown key \(entry.key) in [http]")
        }
    }

    private mutating func setSecurity(_ entry: ConfigEntry) throws {
        guard ["coordinator_public", "coordinator_secret", "worker_public", "worker_secret", "client_public", "client_secret"].contains(entry.key) else {
            throw entry.fail("unknown key \(entry.key) in [security]")
        }
        guard entry.value.utf8.count == 40 else { throw entry.fail("\(entry.key) must be a 40-character Z85 CURVE key") }
        keys[entry.key] = entry.value
    }

    private mutating func setMember(_ entry: ConfigEntry) throws {
        let index = memberIndex!
        switch entry.key {
        case "architecture": config.members[index].architecture = entry.value
        case "weights": config.members[index].weights = entry.value
        case "weight": config.members[index].weight = Int((try entry.double(0.01...10.24) * 100).rounded())
        case "value": config.members[index].value = try entry.double(0...1)
        case "digest": config.members[index].digest = entry.value.lowercased()
        case "delay": config.members[index].delay = try entry.double(0...10)
        case "mean", "std":
            let values = entry.value.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, entry.key == "mean" || values.allSatisfy({ $0 > 0 }) else {
                throw entry.fail("\(entry.key) must be three comma-separated numbers\(entry.key == "std" ? ", all positive" : "")")
            }
            if entry.key == "mean" { config.members[index].mean = values } else { config.members[index].std = values }
        case "stain": config.members[index].stain = try entry.stainMethod()
        case "stain_reference": config.members[index].stainReference = entry.value
        case "pixel_size": config.members[index].pixelSize = try entry.double(0.001...WireLimits.pixelSize)
        default: throw entry.fail("unknown key \(entry.key) in [member]")
        }
    }

    /// The checks that need the whole file.
    func finish() throws -> ClusterConfig {
        var config = config
        if let token = httpToken {
            guard config.http != nil else { throw TesseraError(source, "[http] sets a token but no listen address") }
            config.http?.token = token
        }
        for member in config.members where member.architecture.isEmpty {
            throw TesseraError(source, "line \(member.line): member \"\(member.name)\" has no architecture", code: .notFound)
        }
        guard !config.members.isEmpty else { throw TesseraError(source, "no [member NAME] section: the ensemble is empty", code: .notFound) }
        do { _ = try config.settings.plan(width: 1, height: 1) } catch let error as TesseraError {
            throw TesseraError(source, "[inference]: \(error.reason)", code: error.code)
        }
        if !keys.isEmpty {
            func key(_ name: String) throws -> String {
                guard let value = keys[name] else {
                    throw TesseraError(source, "[security] sets some keys but not \(name): give coordinator_public, worker_public and client_public at least")
                }
                return value
            }
            config.security = ClusterConfig.Security(
                coordinatorPublic: try key("coordinator_public"), coordinatorSecret: keys["coordinator_secret"],
                workerPublic: try key("worker_public"), workerSecret: keys["worker_secret"],
                clientPublic: try key("client_public"), clientSecret: keys["client_secret"])
        }
        if let http = config.http, http.token == nil {
            if config.security != nil {
                throw TesseraError(source, "[http] needs a token when [security] is set: anyone who reaches \(http.host):\(http.port) would see the cluster")
            }
            if !http.isLoopback { throw TesseraError(source, "[http] listens on \(http.host), beyond this machine: set a token, or listen on 127.0.0.1") }
        }
        return config
    }
}
