import Core
import Foundation
import Shared

/// One data-parallel training run as the coordinator holds it: what was asked, the ring's
/// decisions (`TrainingRing`), the workers taking part and the state each holds, what is
/// waiting on a worker's state, and the run folder under the state directory:
/// `job.json` (this record), `checkpoint/weights.safetensors` and
/// `checkpoint/optimizer.safetensors` (the training state after `checkpointStep` steps:
/// what a restarted coordinator resumes from), and `model.safetensors` (the latest
/// checkpoint's model, batch norms recalibrated, which `fetch` of content `model` serves).
final class TrainingJob {
    enum State: String { case queued, running, finished, failed }

    /// What job.json holds.
    struct Record: Codable, Equatable {
        var id: UInt64
        var name: String
        var member: String
        var data: String
        var weights: String?
        /// The settings' JSON, as submitted.
        var settings: String
        var state: String
        var note: String?
        /// Steps in the last checkpoint.
        var step: Int
        /// The global batch's loss at each committed step up to `step`.
        var losses: [Double]
        var validation: [Wire.TrainDice]
        /// FNV-1a of train.csv as the first worker read it.
        var dataDigest: String?
        /// The ring each epoch ran with, from the step it started at.
        var rings: [RingChange]
        var ended: Double?
        /// Seconds of training (ring steps) over the run's whole life.
        var seconds: Double?
    }

    struct RingChange: Codable, Equatable {
        var step: Int
        var epoch: Int
        var workers: [String]
    }

    /// A worker taking part: where its ring socket is and the step whose state it holds
    /// (nil: none the run can use yet).
    struct Participant {
        let identity: [UInt8]
        let name: String
        let endpoint: String
        var holds: Int?
    }

    let id: UInt64
    let directory: String
    let member: Int
    let plan: TrainingPlan
    var record: Record
    var client: [UInt8]
    var state: State
    var ring: TrainingRing
    /// Workers asked to join (`trainJoin`) that have not answered, by ring id.
    var invited: [String: [UInt8]] = [:]
    var participants: [String: Participant] = [:]
    /// Workers that could not join, by name, with why.
    var refusals: [String: String] = [:]
    /// The step waiting for states or a checkpoint before it is sent.
    var heldStart: TrainingRing.Action?
    /// A checkpoint asked of a ring member (`model`: with the model and its Dice).
    var pendingSave: (step: Int, from: String, model: Bool)?
    /// The last step's loss, as its replicas reported it.
    var lastLoss: Double?
    /// A state asked of a ring member for workers that lack it.
    var pendingTransfer: (step: Int, from: String, to: [String])?
    /// Every step is committed: the run ends once its last checkpoint is written.
    var finishing = false
    var ended: Date?
    /// The global batch's loss at every committed step.
    var losses: [Double]
    var stepStarted: Date?
    /// Since when the run has had no worker at all.
    var waitingSince: Date?
    /// When the first worker of a ring still to form was ready.
    var firstReady: Date?
    /// Throughput of the last committed steps, for progress.
    var recentSteps: [Double] = []

    init(id: UInt64, directory: String, member: Int, plan: TrainingPlan, record: Record, client: [UInt8]) {
        self.id = id
        self.directory = directory
        self.member = member
        self.plan = plan
        self.record = record
        self.client = client
        state = State(rawValue: record.state) ?? .queued
        losses = Array(record.losses.prefix(record.step))
        ring = TrainingRing(batch: plan.batch, steps: plan.steps, committed: record.step, epoch: record.rings.last?.epoch ?? 0,
                            minimumShare: plan.synchronisedBatchNorm == true ? 1 : 2)
    }

    var checkpointStep: Int { record.step }
    var weightsPath: String { directory + "/checkpoint/weights.safetensors" }
    var optimizerPath: String { directory + "/checkpoint/optimizer.safetensors" }
    var modelPath: String { directory + "/model.safetensors" }
    var recordPath: String { directory + "/job.json" }
    /// Ring ids of the members of the ring, in ring order.
    var ringMembers: [String] { ring.ring }

    func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(record), to: recordPath)
    }

    static func load(_ path: String) throws -> Record {
        try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes a checkpoint: the state files, the model when there is one, then the record.
    func writeCheckpoint(step: Int, weights: [UInt8], optimizer: [UInt8], model: [UInt8], dice: Double?, losses: [Double]) throws {
        try FileManager.default.createDirectory(atPath: directory + "/checkpoint", withIntermediateDirectories: true)
        try AtomicFile.write(Data(weights), to: weightsPath)
        try AtomicFile.write(Data(optimizer), to: optimizerPath)
        if !model.isEmpty { try AtomicFile.write(Data(model), to: modelPath) }
        record.step = step
        record.losses = Array(losses.prefix(step))
        if let dice { record.validation.append(Wire.TrainDice(step: step, dice: dice)) }
        try save()
    }

    func end(_ state: State, note: String? = nil) {
        self.state = state
        if let note { record.note = note }
        record.state = state.rawValue
        ended = Date()
        record.ended = ended!.timeIntervalSince1970
        heldStart = nil
        pendingSave = nil
        pendingTransfer = nil
    }

    var progress: Wire.TrainProgress {
        let stateText: String
        switch state {
        case .running: stateText = finishing || pendingSave != nil ? "saving" : ring.ring.isEmpty ? "waiting" : "running"
        default: stateText = state.rawValue
        }
        let perStep = recentSteps.isEmpty ? nil : recentSteps.reduce(0, +) / Double(recentSteps.count)
        return Wire.TrainProgress(job: id, state: stateText, step: ring.committed, steps: plan.steps, loss: losses.last,
                                  imagesPerSecond: perStep.map { Double(plan.batch) / $0 },
                                  secondsLeft: perStep.map { $0 * Double(plan.steps - ring.committed) },
                                  ring: ring.ring.compactMap { participants[$0]?.name }, validation: record.validation, note: record.note)
    }
}
