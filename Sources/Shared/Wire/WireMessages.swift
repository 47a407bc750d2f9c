import Core
import Foundation
import Tiling

/// The bodies of Tessera's messages: plain values, kept apart from their byte encoding
/// (`WireCodec`). Control messages are JSON objects with exactly these fields, each
/// checked against `WireLimits` as it is decoded (`WireBody.flaw`); tiles and results have
/// fixed little-endian headers, since thousands travel each second.
public enum Wire {
    // MARK: Worker link

    /// A worker introduces itself. `protocolVersion` repeats the header's for clarity.
    public struct Register: WireBody, Equatable {
        public var protocolVersion: Int
        public var member: String
        public var architecture: String
        /// Hex digest of the weights file ("" when the model has none).
        public var weightsDigest: String
        /// Threads the worker computes a tile with (its `--threads`).
        public var threads: Int
        /// A name for logs: host and process id.
        public var name: String
        /// The tile sides its member can take.
        public var tileSides: TileSides
        /// The kernels its maps come from, e.g. "AVX2, OpenBLAS Haswell": workers of one member
        /// that differ here may differ in the last bits of their maps. Optional (absent: unknown).
        public var kernels: String?
        /// The pixel size its member is declared at (`pixel_size`); absent: none.
        public var pixelSize: Double?
        /// The stain normalisation its member applies to each tile (`stain`); absent: none.
        public var stain: StainMethod?
        public init(
            protocolVersion: Int, member: String, architecture: String, weightsDigest: String, threads: Int, name: String,
            tileSides: TileSides, kernels: String? = nil, pixelSize: Double? = nil, stain: StainMethod? = nil
        ) {
            self.protocolVersion = protocolVersion; self.member = member; self.architecture = architecture
            self.weightsDigest = weightsDigest; self.threads = threads; self.name = name; self.tileSides = tileSides; self.kernels = kernels
            self.pixelSize = pixelSize; self.stain = stain
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.text("member", member, empty: false), WireRule.text("architecture", architecture, empty: false),
                WireRule.digest("weightsDigest", weightsDigest, empty: true), WireRule.range("threads", threads, WireLimits.threads),
                WireRule.text("name", name), tileSides.flaw, kernels.flatMap { WireRule.text("kernels", $0) },
                pixelSize.flatMap { WireRule.pixelSize("pixelSize", $0) })
        }
    }

    /// The tile sides a member can take: multiples of `multiple` from `minimum` to `maximum`.
    public struct TileSides: WireBody, Equatable, CustomStringConvertible {
        public var multiple: Int
        public var minimum: Int
        public var maximum: Int
        public init(multiple: Int, minimum: Int, maximum: Int) { self.multiple = multiple; self.minimum = minimum; self.maximum = maximum }
        public func accepts(_ side: Int) -> Bool { side >= minimum && side <= maximum && side % multiple == 0 }
        public var description: String {
            multiple == 1 ? "sides from \(minimum) to \(maximum) pixels" : "sides that are multiples of \(multiple) from \(minimum) to \(maximum) pixels"
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("tileSides.multiple", multiple, 1...WireLimits.tileSide.upperBound),
                WireRule.range("tileSides.minimum", minimum, WireLimits.tileSide),
                WireRule.range("tileSides.maximum", maximum, WireLimits.tileSide),
                maximum >= minimum ? nil : "tileSides.maximum \(maximum) is below its minimum \(minimum)")
        }
    }

    /// The coordinator accepts a worker and says how it will talk to it.
    public struct Welcome: WireBody, Equatable {
        public var heartbeatMilliseconds: Int
        public var liveness: Int
        public var credit: Int
        /// Heartbeats either side may miss while the worker is in a training run (absent: `liveness`).
        public var trainingLiveness: Int?
        public init(heartbeatMilliseconds: Int, liveness: Int, credit: Int, trainingLiveness: Int? = nil) {
            self.heartbeatMilliseconds = heartbeatMilliseconds; self.liveness = liveness; self.credit = credit
            self.trainingLiveness = trainingLiveness
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("heartbeatMilliseconds", heartbeatMilliseconds, WireLimits.heartbeatMilliseconds),
                WireRule.range("liveness", liveness, WireLimits.liveness), WireRule.range("credit", credit, WireLimits.credit),
                trainingLiveness.flatMap { WireRule.range("trainingLiveness", $0, WireLimits.liveness) })
        }
    }

    /// A refusal or error with its reason.
    public struct Reason: WireBody, Equatable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var flaw: String? { WireRule.text("reason", reason, max: WireLimits.reasonBytes) }
    }

    /// A tile to predict (header of `tile`; the RGB pixels follow as the payload frame).
    public struct TileRequest: Sendable, Equatable {
        public var job: UInt64
        /// Unique per coordinator run; the result must carry it back.
        public var request: UInt64
        public var row: UInt32
        public var column: UInt32
        public var size: UInt32
        public var encoding: MapEncoding
        public var flips: FlipSet
        /// Pixels along each edge of the map to leave out (the blending window gives them no
        /// weight); the map is (mapSize − 2·inset)².
        public var inset: UInt32
        /// The side of the map wanted, in full-resolution slide pixels: `size` unless the
        /// pixels come from a reduced pyramid level.
        public var mapSize: UInt32
        /// µm per pixel of the pixels sent; 0 when the slide's is unknown.
        public var pixelSize: Double
        public init(
            job: UInt64, request: UInt64, row: UInt32, column: UInt32, size: UInt32, encoding: MapEncoding, flips: FlipSet,
            inset: UInt32 = 0, mapSize: UInt32? = nil, pixelSize: Double = 0
        ) {
            self.job = job; self.request = request; self.row = row; self.column = column
            self.size = size; self.encoding = encoding; self.flips = flips; self.inset = inset
            self.mapSize = mapSize ?? size; self.pixelSize = pixelSize
        }
    }

    /// A predicted map (header of `result`; the encoded map follows as the payload frame).
    public struct TileResult: Sendable, Equatable {
        public var job: UInt64
        public var request: UInt64
        public var row: UInt32
        public var column: UInt32
        public var size: UInt32
        public var encoding: MapEncoding
        /// The request's inset: the map is (size − 2·inset)².
        public var inset: UInt32
        public init(job: UInt64, request: UInt64, row: UInt32, column: UInt32, size: UInt32, encoding: MapEncoding, inset: UInt32 = 0) {
            self.job = job; self.request = request; self.row = row; self.column = column; self.size = size; self.encoding = encoding
            self.inset = inset
        }
    }

    /// A tile the worker could not predict.
    public struct TileFailure: WireBody, Equatable {
        public var job: UInt64
        public var request: UInt64
        public var reason: String
        public init(job: UInt64, request: UInt64, reason: String) { self.job = job; self.request = request; self.reason = reason }
        public var flaw: String? { WireRule.text("reason", reason, max: WireLimits.reasonBytes) }
    }

    // MARK: Client link

    /// A client submits a slide. The coordinator reads `path` itself when it sees a file
    /// there of `size` bytes with the same `digest`; otherwise it fetches the bytes.
    public struct Submit: WireBody, Equatable {
        public var name: String
        public var path: String
        public var size: UInt64
        public var digest: String
        /// µm per pixel of the slide, overriding its file's; nil to take the file's.
        public var pixelSize: Double?
        /// The slide's organ, which picks its threshold (`[organ NAME]` in cluster.conf).
        public var organ: String?
        /// Who reads the slide on the coordinator: "auto", "tiff" or "openslide"; nil for
        /// its configuration's `reader`.
        public var reader: String?
        public init(name: String, path: String, size: UInt64, digest: String, pixelSize: Double? = nil, organ: String? = nil, reader: String? = nil) {
            self.name = name; self.path = path; self.size = size; self.digest = digest; self.pixelSize = pixelSize; self.organ = organ
            self.reader = reader
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.text("name", name), WireRule.text("path", path), WireRule.range("size", size, WireLimits.slideBytes),
                WireRule.digest("digest", digest), organ.flatMap { WireRule.text("organ", $0) },
                pixelSize.flatMap { WireRule.pixelSize("pixelSize", $0) },
                reader.flatMap { SlideBackend(rawValue: $0) == nil ? "reader \($0) is not auto, tiff or openslide" : nil })
        }
    }

    /// The job a submission became, and whether its bytes will be fetched.
    public struct Accepted: WireBody, Equatable {
        public var job: UInt64
        public var upload: Bool
        public init(job: UInt64, upload: Bool) { self.job = job; self.upload = upload }
    }

    /// What a fetch or chunk is about.
    public enum Content: String, Codable, Sendable {
        case slide, mask, rle
        /// A finished training run's model.safetensors.
        case model
    }

    /// A request for `size` bytes of a job's content from `offset`.
    public struct Fetch: WireBody, Equatable {
        public var job: UInt64
        public var content: Content
        public var offset: UInt64
        public var size: UInt64
        public init(job: UInt64, content: Content, offset: UInt64, size: UInt64) {
            self.job = job; self.content = content; self.offset = offset; self.size = size
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("size", size, 1...UInt64(WireLimits.chunkBytes)),
                WireRule.range("offset", offset, 0...WireLimits.slideBytes.upperBound))
        }
    }

    /// Bytes of a job's content from `offset` (the bytes are the payload frame).
    public struct Chunk: WireBody, Equatable {
        public var job: UInt64
        public var content: Content
        public var offset: UInt64
        public init(job: UInt64, content: Content, offset: UInt64) { self.job = job; self.content = content; self.offset = offset }
    }

    /// A job's state, sent to its client while it lasts.
    public struct Progress: WireBody, Equatable {
        public var job: UInt64
        public var state: SlideJobState
        public var tilesDone: Int
        public var tilesTotal: Int
        /// Tiles each member has predicted, in member order.
        public var memberDone: [Int]
        public var memberNames: [String]
        public var secondsLeft: Double?
        /// Why a job waits or failed.
        public var note: String?
        public init(
            job: UInt64, state: SlideJobState, tilesDone: Int, tilesTotal: Int, memberDone: [Int], memberNames: [String], secondsLeft: Double?, note: String?
        ) {
            self.job = job; self.state = state; self.tilesDone = tilesDone; self.tilesTotal = tilesTotal
            self.memberDone = memberDone; self.memberNames = memberNames; self.secondsLeft = secondsLeft; self.note = note
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("tilesDone", tilesDone, 0...Int.max), WireRule.range("tilesTotal", tilesTotal, 0...Int.max),
                memberDone.count == memberNames.count ? nil : "memberDone and memberNames differ in length",
                memberDone.allSatisfy { $0 >= 0 } ? nil : "memberDone holds a negative count")
        }
    }

    /// A finished job: sizes of what can be fetched.
    public struct Finished: WireBody, Equatable {
        public var job: UInt64
        public var width: Int
        public var height: Int
        public var foregroundPixels: Int
        public var maskBytes: UInt64
        public var rleBytes: UInt64
        public init(job: UInt64, width: Int, height: Int, foregroundPixels: Int, maskBytes: UInt64, rleBytes: UInt64) {
            self.job = job; self.width = width; self.height = height; self.foregroundPixels = foregroundPixels
            self.maskBytes = maskBytes; self.rleBytes = rleBytes
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("width", width, 1...Int(UInt32.max)), WireRule.range("height", height, 1...Int(UInt32.max)),
                WireRule.range("foregroundPixels", foregroundPixels, 0...Int.max))
        }
    }

    /// A failed job and why.
    public struct Failed: WireBody, Equatable {
        public var job: UInt64
        public var reason: String
        public init(job: UInt64, reason: String) { self.job = job; self.reason = reason }
    }

    /// A client asks to follow a job again (after a disconnect).
    public struct Attach: WireBody, Equatable {
        public var job: UInt64
        public init(job: UInt64) { self.job = job }
    }

    /// What `tessera status` shows.
    public struct Status: WireBody, Equatable {
        public struct Worker: Codable, Sendable, Equatable {
            public var name: String
            public var member: String
            public var state: String
            public var tilesPerSecond: Double
            public var inFlight: Int
            public var tilesDone: Int
            /// As the worker registered them.
            public var kernels: String?
            public init(
                name: String, member: String, state: String, tilesPerSecond: Double, inFlight: Int, tilesDone: Int,
                kernels: String? = nil
            ) {
                self.name = name; self.member = member; self.state = state
                self.tilesPerSecond = tilesPerSecond; self.inFlight = inFlight; self.tilesDone = tilesDone; self.kernels = kernels
            }
        }
        public struct Job: Codable, Sendable, Equatable {
            public var job: UInt64
            public var name: String
            public var state: String
            public var tilesDone: Int
            public var tilesTotal: Int
            public var note: String?
            /// "training" for a training run (whose counts are steps), absent for a slide.
            public var kind: String?
            public init(job: UInt64, name: String, state: String, tilesDone: Int, tilesTotal: Int, note: String?, kind: String? = nil) {
                self.job = job; self.name = name; self.state = state; self.tilesDone = tilesDone; self.tilesTotal = tilesTotal; self.note = note
                self.kind = kind
            }
        }
        public var workers: [Worker]
        public var jobs: [Job]
        public init(workers: [Worker], jobs: [Job]) { self.workers = workers; self.jobs = jobs }
    }
}
