import Core
import Foundation

/// The bodies of the training messages (docs/PROTOCOL.md, "Training"). The run's settings
/// travel as the JSON text `tessera train` wrote: the coordinator reads only the fields it
/// schedules by (`TrainingPlan`), the workers all of it.
extension Wire {
    // MARK: Client link

    /// A client asks for member `member` to be trained on the data folder `data`, which
    /// every worker of the member must be able to read at that path.
    public struct TrainSubmit: WireBody, Equatable {
        public var name: String
        public var member: String
        public var data: String
        /// Initial weights, a path every worker reads; nil: deterministic weights.
        public var weights: String?
        /// The run's settings as JSON (the Training module's `TrainingSettings`).
        public var settings: String
        public init(name: String, member: String, data: String, weights: String?, settings: String) {
            self.name = name; self.member = member; self.data = data; self.weights = weights; self.settings = settings
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.text("name", name), WireRule.text("member", member, empty: false), WireRule.text("data", data, empty: false),
                weights.flatMap { WireRule.text("weights", $0, empty: false) },
                WireRule.text("settings", settings, max: WireLimits.reasonBytes, empty: false),
                TrainingPlan(json: settings) == nil ? "settings is not a training run's settings" : nil)
        }
    }

    /// A held-out Dice at a step.
    public struct TrainDice: Codable, Sendable, Equatable {
        public var step: Int
        public var dice: Double
        public init(step: Int, dice: Double) { self.step = step; self.dice = dice }
    }

    /// A training run's state, sent to its client while it lasts.
    public struct TrainProgress: WireBody, Equatable {
        public var job: UInt64
        public var state: TrainingProgressState
        /// Steps committed, of `steps`.
        public var step: Int
        public var steps: Int
        /// The last committed step's loss over the global batch.
        public var loss: Double?
        public var imagesPerSecond: Double?
        public var secondsLeft: Double?
        /// The ring's workers, in ring order.
        public var ring: [String]
        public var validation: [TrainDice]
        public var note: String?
        public init(
            job: UInt64, state: TrainingProgressState, step: Int, steps: Int, loss: Double?, imagesPerSecond: Double?, secondsLeft: Double?,
            ring: [String], validation: [TrainDice], note: String?
        ) {
            self.job = job; self.state = state; self.step = step; self.steps = steps; self.loss = loss
            self.imagesPerSecond = imagesPerSecond; self.secondsLeft = secondsLeft; self.ring = ring; self.validation = validation; self.note = note
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("steps", steps, WireLimits.trainingSteps), WireRule.range("step", step, 0...max(0, steps)),
                ring.count <= WireLimits.ringMembers.upperBound ? nil : "ring holds more than \(WireLimits.ringMembers.upperBound) workers")
        }
    }

    /// A finished run: its model can be fetched (`fetch` of content `model`).
    public struct TrainFinished: WireBody, Equatable {
        public var job: UInt64
        public var steps: Int
        /// The last held-out Dice, when the run validates.
        public var dice: Double?
        public var modelBytes: UInt64
        public init(job: UInt64, steps: Int, dice: Double?, modelBytes: UInt64) {
            self.job = job; self.steps = steps; self.dice = dice; self.modelBytes = modelBytes
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("steps", steps, WireLimits.trainingSteps),
                WireRule.range("modelBytes", modelBytes, 1...UInt64(WireLimits.stateBytes)))
        }
    }

    // MARK: Worker link

    /// The coordinator asks a worker to take part in run `run`: load the data and settings,
    /// bind its ring socket, and answer `trainReady`.
    public struct TrainJoin: WireBody, Equatable {
        public var run: UInt64
        public var data: String
        public var weights: String?
        public var settings: String
        public init(run: UInt64, data: String, weights: String?, settings: String) {
            self.run = run; self.data = data; self.weights = weights; self.settings = settings
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.text("data", data, empty: false), weights.flatMap { WireRule.text("weights", $0, empty: false) },
                WireRule.text("settings", settings, max: WireLimits.reasonBytes, empty: false))
        }
    }

    /// A worker is ready to train run `run`: its ring endpoint and what it sees of the data.
    public struct TrainReady: WireBody, Equatable {
        public var run: UInt64
        /// Where the worker's predecessor in a ring connects.
        public var endpoint: String
        /// FNV-1a of the data folder's train.csv: every worker of a run must see the same.
        public var dataDigest: String
        public var trainingTiles: Int
        public init(run: UInt64, endpoint: String, dataDigest: String, trainingTiles: Int) {
            self.run = run; self.endpoint = endpoint; self.dataDigest = dataDigest; self.trainingTiles = trainingTiles
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.text("endpoint", endpoint, empty: false), WireRule.digest("dataDigest", dataDigest),
                WireRule.range("trainingTiles", trainingTiles, 1...Int.max))
        }
    }

    /// Run step `step` (0-based) of epoch `epoch` as member `rank` of `ring` (the members'
    /// endpoints in ring order) on slots `first ..< end` of the global batch, from the
    /// state after step `step` − 1.
    public struct TrainStep: WireBody, Equatable {
        public var run: UInt64
        public var step: Int
        public var epoch: Int
        public var rank: Int
        public var ring: [String]
        public var first: Int
        public var end: Int
        public init(run: UInt64, step: Int, epoch: Int, rank: Int, ring: [String], first: Int, end: Int) {
            self.run = run; self.step = step; self.epoch = epoch; self.rank = rank; self.ring = ring; self.first = first; self.end = end
        }
        public var flaw: String? {
            // Every check is evaluated: none may do arithmetic on an unchecked value.
            WireRule.first(
                WireRule.range("step", step, 0...WireLimits.trainingSteps.upperBound), WireRule.range("epoch", epoch, 1...65_535),
                WireRule.range("ring.count", ring.count, WireLimits.ringMembers), WireRule.range("rank", rank, 0...max(0, ring.count - 1)),
                ring.lazy.compactMap { WireRule.text("ring endpoint", $0, empty: false) }.first,
                WireRule.range("first", first, 0...WireLimits.trainingBatch.upperBound - 1),
                WireRule.range("end", end, 1...WireLimits.trainingBatch.upperBound),
                first < end ? nil : "first \(first) is not below end \(end)")
        }
    }

    /// A worker applied step `step` of epoch `epoch`.
    public struct TrainDone: WireBody, Equatable {
        public var run: UInt64
        public var step: Int
        public var epoch: Int
        /// The global batch's loss.
        public var loss: Double
        /// FNV-1a of the parameters after the step: every replica's must be the same.
        public var digest: String
        /// Seconds the step took on this worker.
        public var seconds: Double
        /// Of those, seconds spent summing over the ring (absent from older workers).
        public var allReduceSeconds: Double?
        public init(run: UInt64, step: Int, epoch: Int, loss: Double, digest: String, seconds: Double, allReduceSeconds: Double? = nil) {
            self.run = run; self.step = step; self.epoch = epoch; self.loss = loss; self.digest = digest; self.seconds = seconds
            self.allReduceSeconds = allReduceSeconds
        }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("step", step, 0...WireLimits.trainingSteps.upperBound), WireRule.digest("digest", digest),
                seconds >= 0 && seconds.isFinite ? nil : "seconds \(seconds) is not a duration",
                (allReduceSeconds ?? 0) >= 0 && (allReduceSeconds ?? 0).isFinite ? nil : "allReduceSeconds is not a duration")
        }
    }

    /// The coordinator asks for the committed state after `step` steps; with `model`, also
    /// the model with recalibrated batch norms and the held-out Dice (a checkpoint).
    /// `epoch`, when present, is the ring's current epoch: a worker still in a step of an
    /// earlier one abandons it (it cannot be committed) before it answers.
    public struct TrainSave: WireBody, Equatable {
        public var run: UInt64
        public var step: Int
        public var model: Bool
        public var epoch: Int?
        public init(run: UInt64, step: Int, model: Bool, epoch: Int? = nil) { self.run = run; self.step = step; self.model = model; self.epoch = epoch }
        public var flaw: String? {
            WireRule.first(
                WireRule.range("step", step, 0...WireLimits.trainingSteps.upperBound),
                epoch.flatMap { WireRule.range("epoch", $0, 0...65_535) })
        }
    }

    /// The body of `trainState`, whose three payload frames are the weights, the optimiser
    /// state (`TrainingState`'s safetensors files) and the model (empty unless asked for).
    /// From a worker, the answer to `trainSave`; to a worker, the state to continue from.
    public struct TrainStateHeader: WireBody, Equatable {
        public var run: UInt64
        public var step: Int
        public var dice: Double?
        public init(run: UInt64, step: Int, dice: Double?) { self.run = run; self.step = step; self.dice = dice }
        public var flaw: String? { WireRule.range("step", step, 0...WireLimits.trainingSteps.upperBound) }
    }

    /// The worker leaves run `run` (finished, failed, or no longer wanted) and takes tiles again.
    public struct TrainStop: WireBody, Equatable {
        public var run: UInt64
        public var reason: String
        public init(run: UInt64, reason: String) { self.run = run; self.reason = reason }
        public var flaw: String? { WireRule.text("reason", reason, max: WireLimits.reasonBytes) }
    }

    /// A worker could not go on with run `run`. `fatal`: any worker would fail alike (the
    /// data cannot be read, the loss is not finite) and the run stops; otherwise only this
    /// worker leaves the ring.
    public struct TrainFailed: WireBody, Equatable {
        public var run: UInt64
        public var fatal: Bool
        public var reason: String
        public init(run: UInt64, fatal: Bool, reason: String) { self.run = run; self.fatal = fatal; self.reason = reason }
        public var flaw: String? { WireRule.text("reason", reason, max: WireLimits.reasonBytes) }
    }
}

/// The fields of a run's settings the coordinator schedules by; the rest of the JSON is
/// the workers' (`TrainingSettings`).
public struct TrainingPlan: Codable, Sendable, Equatable {
    public var architecture: String
    public var steps: Int
    public var batch: Int
    public var checkpointEvery: Int
    public var validateEvery: Int
    /// Synchronised batch norm: shares of one image are then possible.
    public var synchronisedBatchNorm: Bool?

    /// The plan of `json`, or nil when it lacks a field or one is out of bounds.
    public init?(json: String) {
        guard let plan = try? WholeNumbers.decode(TrainingPlan.self, from: Array(json.utf8)),
            WireLimits.trainingSteps.contains(plan.steps), WireLimits.trainingBatch.contains(plan.batch),
            plan.checkpointEvery >= 1, plan.validateEvery >= 0
        else { return nil }
        self = plan
    }
}
