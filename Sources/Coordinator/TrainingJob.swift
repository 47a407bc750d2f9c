import Core
import Foundation
import Shared

/// One data-parallel training run as the coordinator holds it: what was asked, its
/// decisions (`TrainingRunMachine`), the workers it knows, and the run folder under the
/// state directory:
/// `job.json` (this record) and `checkpoint-STEP/` (`CheckpointLayout`: the training state
/// after STEP steps and its model, batch norms recalibrated, which `fetch` of content
/// `model` serves); the record's `step` names the checkpoint a restarted coordinator
/// resumes from.
final class TrainingJob {
    typealias State = TrainingRunState

    typealias Record = TrainingRunRecord
    typealias RingChange = TrainingRunRecord.RingChange

    /// A worker known to the run, by ring id: its routing id and name.
    struct Peer {
        let identity: [UInt8]
        let name: String
    }

    let id: UInt64
    let directory: String
    let member: Int
    let plan: TrainingPlan
    var record: Record
    var client: [UInt8]
    var state: State
    /// Every decision of the run (`TrainingRunMachine`); the rest of this class is what the
    /// driver keeps to carry them out and to report.
    var machine: TrainingRunMachine
    /// Workers invited or taking part, by ring id.
    var peers: [String: Peer] = [:]
    /// Workers that could not join, by name, with why.
    var refusals: [String: String] = [:]
    /// The last step's loss, as its replicas reported it.
    var lastLoss: Double?
    var ended: Date?
    /// The global batch's loss at every committed step.
    var losses: [Double]
    var stepStarted: Date?
    /// Since when the run has had no worker at all.
    var waitingSince: Date?
    /// Throughput of the last committed steps, for progress.
    var recentSteps: [Double] = []
    /// The checkpoint's two state files, kept after writing (or read once) so that sending
    /// them to workers never reads the disk on the socket thread.
    var checkpointState: (step: Int, weights: [UInt8], optimizer: [UInt8])?

    init(id: UInt64, directory: String, member: Int, plan: TrainingPlan, record: Record, client: [UInt8]) {
        self.id = id
        self.directory = directory
        self.member = member
        self.plan = plan
        self.record = record
        self.client = client
        state = record.state
        losses = Array(record.losses.prefix(record.step))
        machine = TrainingRunMachine(
            batch: plan.batch, steps: plan.steps, checkpointEvery: plan.checkpointEvery, validateEvery: plan.validateEvery,
            minimumShare: plan.synchronisedBatchNorm == true ? 1 : 2, committed: record.step,
            epoch: record.rings.last?.epoch ?? 0,
            hasCheckpoint: FileManager.default.fileExists(
                atPath: Self.checkpointFolder(directory, step: record.step)
                    + "/" + CheckpointLayout.weights))
    }

    var checkpointStep: Int { record.step }
    static func checkpointFolder(_ directory: String, step: Int) -> String { directory + "/" + CheckpointLayout.folder(step: step) }
    /// The files of the checkpoint the record names.
    var weightsPath: String { Self.checkpointFolder(directory, step: record.step) + "/" + CheckpointLayout.weights }
    var optimizerPath: String { Self.checkpointFolder(directory, step: record.step) + "/" + CheckpointLayout.optimizer }
    var modelPath: String { Self.checkpointFolder(directory, step: record.step) + "/" + CheckpointLayout.model }
    var recordPath: String { directory + "/job.json" }

    func save() throws {
        try AtomicFile.write(try record.encoded(), to: recordPath)
    }

    static func load(_ path: String) throws -> Record {
        try Record.read(path)
    }

    /// Writes the checkpoint after `step` steps into its own folder: the state, and the
    /// model when there is one (off the socket thread; `recordCheckpoint` then names it).
    static func writeCheckpointFiles(directory: String, step: Int, weights: [UInt8], optimizer: [UInt8], model: [UInt8]) throws {
        let folder = checkpointFolder(directory, step: step)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(Data(weights), to: folder + "/" + CheckpointLayout.weights)
        try AtomicFile.write(Data(optimizer), to: folder + "/" + CheckpointLayout.optimizer)
        if !model.isEmpty { try AtomicFile.write(Data(model), to: folder + "/" + CheckpointLayout.model) }
    }

    /// Removes the checkpoint folders other than the one the record names.
    static func removeCheckpoints(directory: String, except step: Int) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let other = CheckpointLayout.step(ofFolder: name), other != step else { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    /// The record of a checkpoint whose files are written.
    func recordCheckpoint(step: Int, dice: Double?) throws {
        record.step = step
        record.losses = Array(losses.prefix(step))
        if let dice { record.validation.append(Wire.TrainDice(step: step, dice: dice)) }
        try save()
    }

    func end(_ state: State, note: String? = nil) {
        self.state = state
        if let note { record.note = note }
        record.state = state
        ended = Date()
        record.ended = ended!.timeIntervalSince1970
        checkpointState = nil
    }

    var progress: Wire.TrainProgress {
        let stateText: TrainingProgressState
        switch state {
        case .running: stateText = machine.saving ? .saving : machine.ring.ring.isEmpty ? .waiting : .running
        case .queued: stateText = .queued
        case .finished: stateText = .finished
        case .failed: stateText = .failed
        }
        let perStep = recentSteps.isEmpty ? nil : recentSteps.reduce(0, +) / Double(recentSteps.count)
        return Wire.TrainProgress(
            job: id, state: stateText, step: machine.ring.committed, steps: plan.steps, loss: losses.last,
            imagesPerSecond: perStep.map { Double(plan.batch) / $0 },
            secondsLeft: perStep.map { $0 * Double(plan.steps - machine.ring.committed) },
            ring: machine.ring.ring.compactMap { peers[$0]?.name }, validation: record.validation, note: record.note)
    }
}
