import Core
import Foundation
import Tiling

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
            throw TesseraError(source, "no member \"\(name)\" (members: \(members.map(\.name).joined(separator: ", ")))", code: .notFound)
        }
        return member
    }

    /// Reads and checks `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TesseraError(path, "cannot read the configuration file", code: .io)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TesseraError(path, "not UTF-8 text", code: .malformed) }
        try self.init(parsing: text, source: path)
    }

    /// Member weights as the stitcher takes them, in member order.
    public var memberWeights: [Int] { members.map(\.weight) }
}
