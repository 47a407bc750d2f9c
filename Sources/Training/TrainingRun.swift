import Core
import Engine
import Foundation
import Segmentation

/// A training run on one machine: the loop of steps, progress, validation Dice, precise-BN
/// recalibration and checkpoints in a run folder, from which `resume` continues bit for
/// bit (batches, augmentations and dropout are functions of the seed and the step; the
/// weights, running statistics and optimiser moments are saved exactly).
///
/// The run folder holds `run.json` (settings, step, history), `checkpoint/` (the training
/// state: `weights.safetensors` and `optimizer.safetensors`), and `model.safetensors`: the
/// weights with recalibrated batch-norm statistics, which `tessera infer`, workers and
/// PyTorch load unchanged. Every file is written atomically, run.json last.
public final class TrainingRun {
    /// What run.json holds.
    public struct Record: Codable, Sendable {
        public var settings: TrainingSettings
        /// FNV-1a of the data folder's train.csv: a resumed run must see the same slides.
        public var dataDigest = ""
        /// Steps done.
        public var step = 0
        public var losses: [Double] = []
        public var validation: [Validation] = []
    }

    public struct Validation: Codable, Sendable, Equatable {
        public let step: Int
        public let dice: Double
    }

    /// One step's report for progress output.
    public struct Progress: Sendable {
        public let step: Int, steps: Int
        public let loss: Double, lr: Double
        public let imagesPerSecond: Double
        public let secondsLeft: Double
    }

    public let folder: String
    public private(set) var record: Record
    public let trainer: ModelTrainer
    public let data: TileDataset
    public let validationData: TileDataset?
    public var onProgress: (Progress) -> Void = { _ in }
    public var onMessage: (String) -> Void = { _ in }
    /// Polled after every step: true checkpoints the step reached and returns (SIGINT).
    public var shouldStop: () -> Bool = { false }

    /// A new run in `folder` (which must not hold one), starting from `weights` or from
    /// deterministic weights.
    public convenience init(folder: String, dataFolder: String, settings: TrainingSettings, weights: String?) throws {
        try settings.check()
        _ = try TrainingSet(folder: dataFolder)  // the data's errors before anything is written
        if FileManager.default.fileExists(atPath: Self.recordPath(folder)) {
            throw TesseraError(folder, "already holds a training run: resume it with --resume, or choose another --out")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try settings.initialStore(weights: weights)
        var record = Record(settings: settings)
        record.dataDigest = try FileDigest.full((dataFolder as NSString).appendingPathComponent("train.csv"))
        try self.init(folder: folder, dataFolder: dataFolder, record: record, store: store)
    }

    /// The run in `folder`, at its last checkpoint.
    public static func resume(folder: String, dataFolder: String) throws -> TrainingRun {
        guard let data = FileManager.default.contents(atPath: recordPath(folder)) else {
            throw TesseraError(folder, "no training run here (no run.json)", code: .notFound)
        }
        let record = try JSONDecoder().decode(Record.self, from: data)
        let digest = try FileDigest.full((dataFolder as NSString).appendingPathComponent("train.csv"))
        guard digest == record.dataDigest else {
            throw TesseraError(dataFolder, "its train.csv differs from the one the run in \(folder) started with: resume with the same data", code: .mismatch)
        }
        let run = try TrainingRun(
            folder: folder, dataFolder: dataFolder, record: record,
            store: try ParameterStore(architecture: record.settings.architecture))
        try TrainingState.load(
            run.trainer, weights: try SafeTensorsWeights(path: checkpointPath(folder, "weights")),
            optimizer: try SafeTensorsWeights(path: checkpointPath(folder, "optimizer")), step: record.step)
        return run
    }

    private init(folder: String, dataFolder: String, record: Record, store: ParameterStore) throws {
        self.folder = folder
        self.record = record
        trainer = try record.settings.trainer(store: store)
        (data, validationData) = try record.settings.datasets(dataFolder: dataFolder)
    }

    static func recordPath(_ folder: String) -> String { (folder as NSString).appendingPathComponent("run.json") }
    static func checkpointPath(_ folder: String, _ name: String) -> String {
        ((folder as NSString).appendingPathComponent("checkpoint") as NSString).appendingPathComponent(name + ".safetensors")
    }
    public var modelPath: String { (folder as NSString).appendingPathComponent("model.safetensors") }

    /// Sets the length and validation interval of a run that has not started (epochs are
    /// known once tiles are cut).
    public func configure(steps: Int, validateEvery: Int) {
        precondition(record.step == 0, "the run has started")
        record.settings.steps = max(1, steps)
        record.settings.validateEvery = max(0, validateEvery)
    }

    /// Trains until `record.settings.steps` steps are done (or `until` when given: tests
    /// stop a run part way), checkpointing as the settings say; when `shouldStop` says so,
    /// checkpoints the step reached and returns early. Returns whether every step is done.
    @discardableResult
    public func run(until stop: Int? = nil) throws -> Bool {
        let settings = record.settings
        let end = min(stop ?? settings.steps, settings.steps)
        let started = Date()
        let first = record.step
        while record.step < end {
            let step = record.step
            let (images, masks) = try data.batch(step: step, size: settings.batch)
            let (loss, _) = try trainer.gradients(
                images: images, masks: masks, normalisation: .batch(),
                randoms: settings.dropoutRandoms(step: step, slots: 0..<settings.batch))
            let lr: Double
            do {
                lr = try settings.apply(to: trainer, step: step, loss: loss)
            } catch let error as TesseraError {
                throw TesseraError(
                    folder, error.reason + "; the last good checkpoint (step \(lastCheckpoint)) is kept: lower --lr or set --clip-norm, then --resume",
                    code: error.code)
            }
            record.step += 1
            record.losses.append(loss)
            let elapsed = Date().timeIntervalSince(started), done = record.step - first
            onProgress(
                Progress(
                    step: record.step, steps: settings.steps, loss: loss, lr: lr,
                    imagesPerSecond: Double(done * settings.batch) / elapsed,
                    secondsLeft: elapsed / Double(done) * Double(settings.steps - record.step)))
            let checkpoint = record.step % settings.checkpointEvery == 0 || record.step == settings.steps
            let validate = settings.validateEvery > 0 && record.step % settings.validateEvery == 0
            if checkpoint || validate { try save(validating: true, checkpoint: checkpoint) }
            if shouldStop() && record.step < end {
                if !checkpoint { try save(validating: false, checkpoint: true) }
                return false
            }
        }
        return record.step == settings.steps
    }

    /// The step of the last checkpoint written.
    public var lastCheckpoint: Int {
        (FileManager.default.contents(atPath: Self.recordPath(folder)).flatMap { try? JSONDecoder().decode(Record.self, from: $0) })?.step ?? 0
    }

    /// Recalibrates batch-norm statistics, validates, and writes model.safetensors; with
    /// `checkpoint`, also the training state and run.json.
    private func save(validating: Bool, checkpoint: Bool) throws {
        let store = trainer.store
        let training = store.values
        if checkpoint {
            try FileManager.default.createDirectory(atPath: (folder as NSString).appendingPathComponent("checkpoint"), withIntermediateDirectories: true)
            for (name, data) in [("weights", try TrainingState.weights(trainer)), ("optimizer", try TrainingState.optimizer(trainer))] {
                let path = Self.checkpointPath(folder, name)
                try AtomicFile.write(data, to: path)
            }
        }
        try recalibrateBatchNorm()
        if validating, let dice = try validationDice() {
            record.validation.append(Validation(step: record.step, dice: dice))
            onMessage(String(format: "step %d: validation Dice %.4f", record.step, dice))
        }
        try AtomicFile.write(try TrainingState.weights(trainer, metadata: TrainingState.metadata(data)), to: modelPath)
        store.values = training
        if checkpoint {
            let json = JSONEncoder()
            json.outputFormatting = [.prettyPrinted, .sortedKeys]
            let path = Self.recordPath(folder)
            try AtomicFile.write(try json.encode(record), to: path)
            onMessage("step \(record.step): checkpoint in \(folder)")
        }
    }

    private func recalibrateBatchNorm() throws {
        try TrainingEvaluation.recalibrateBatchNorm(trainer, data: data, settings: record.settings)
    }

    /// Dice of the thresholded predictions over every held-out tile together.
    public func validationDice() throws -> Double? {
        try validationData.map { try TrainingEvaluation.validationDice(trainer, data: $0, batch: record.settings.batch) }
    }
}
