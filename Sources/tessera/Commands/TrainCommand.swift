import ArgumentParser
import Client
import Core
import Engine
import Foundation
import Shared
import Training
import Worker

/// `tessera train`: trains a member on this machine, or on the cluster's workers of a
/// member (`--config`).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a CNN member on slides and masks, on this machine or on the cluster.",
        discussion: """
            --data is a folder with train.csv: a `tessera synth` folder, or the Kaggle HuBMAP \
            layouts (2021: id,encoding; 2022: id,organ,…,rle) with images ID.tiff in it or in a \
            train*/ folder. Tiles of --tile pixels are cut at 1/--scale resolution, glass left out, \
            read as needed; batches are balanced by masked area and augmented (flips, rotations, \
            shift-scale-rotate, colour jitter), each a function of --seed and the step. The loss \
            is mean BCE plus soft Dice per image; the optimiser AdamW on a one-cycle or cosine \
            schedule. Slides are held out for validation by slide (--validation, or the last \
            fifth by id); Dice on them is printed after every epoch and checkpoint.

            RUN/ receives model.safetensors (PyTorch keys, batch-norm statistics recalibrated over \
            training batches: `tessera infer`, workers and PyTorch load it unchanged), \
            checkpoint/ (weights and optimiser moments) and run.json (settings, step, losses, \
            Dice). `--resume RUN/` continues from the last checkpoint, bit for bit as if never \
            stopped. SIGINT or SIGTERM (Ctrl-C) checkpoints the step reached and stops. A loss \
            that becomes NaN or infinite stops the run, keeping the last checkpoint.

            On the cluster: `tessera train --config cluster.conf --member NAME --data DIR --out \
            MODEL.safetensors` submits the run to the coordinator. Every live worker of member NAME \
            stops taking tiles and trains: each computes its share of every global batch and the \
            gradients are summed over a ring between the workers (docs/TRAINING.md). --data must \
            be readable at the same path by every worker of the member (shared storage, or the same \
            copy on each), as must --weights. The coordinator keeps the run and its checkpoints in \
            its state folder; this command follows it and writes the model when it is done. If \
            interrupted, the run goes on: follow it again with --attach RUN. A worker lost mid-step \
            is left out and the step redone; a worker that starts later joins at the next step; \
            a restarted coordinator goes on from the last checkpoint.
            """
    )

    @Option(help: "The architecture: \(CNNModel.architectures.joined(separator: ", ")).") var model = "effunet-b0"
    @Option(help: "The training folder (with train.csv); not needed with --attach.") var data: String?
    @Option(help: "The run folder to create (or, with --resume, to continue); with --config, the model file to write.") var out: String?
    @Option(help: "Continue the run in this folder from its last checkpoint.") var resume: String?
    @Option(help: "Initial weights (.safetensors); default: deterministic untrained weights.") var weights: String?
    @Option(help: "Optimiser steps (overrides --epochs).") var steps: Int?
    @Option(help: "Passes over the training tiles.") var epochs: Int?
    @Option(help: "Tiles a step.") var batch = 8
    @Option(help: "Tile side in pixels after scaling (multiple of 32).") var tile = 256
    @Option(help: "Slide pixels per tile pixel (2: half resolution).") var scale = 2
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "The optimiser: adamw, or sgd (momentum 0.9, Nesterov).") var optimizer = OptimizerChoice.adamw
    @Option(help: "The loss: bce-dice (mean BCE + soft Dice per image), bce, dice or lovasz (symmetric Lovász hinge).") var loss = LossChoice.bceDice
    @Option(help: "The learning-rate schedule: onecycle or cosine.") var schedule = ScheduleChoice.onecycle
    @Option(help: "Warm-up steps of the cosine schedule.") var warmUp = 0
    @Option(help: "AdamW weight decay.") var weightDecay = 0.01
    @Flag(help: "Decay biases and norms' gains too (PyTorch's default; off as fast.ai trains).") var decayNormsAndBiases = false
    @Option(help: "The encoder's learning rate as a fraction of the decoder's.") var encoderLrScale = 1.0
    @Flag(help: "Do not update the encoder.") var freezeEncoder = false
    @Option(help: "Clip gradients to this global norm.") var clipNorm: Double?
    @Flag(help: "Turn the seed's Dropout2d layers off.") var noDropout = false
    @Option(help: "EfficientNet's drop-connect rate (0, as the seed's EffUnet).") var dropConnect = 0.0
    @Flag(help: "Turn augmentation off.") var noAugment = false
    @Option(
        help: "Add HED stain jitter of this σ to the augmentations (e.g. 0.05): concentrations scaled by 1 ± σ and shifted by ± σ, as another lab's stains.")
    var hedJitter: Double?
    @Option(help: "Lower edges of the masked-fraction bins each batch draws from equally, comma-separated.") var bins = "0,1e-9,0.1,0.4"
    @Option(help: "Seed of sampling, augmentation and dropout.") var seed: UInt64 = 1
    @Option(help: "Steps between checkpoints (each also validates).") var checkpointEvery = 50
    @Option(help: "Steps between validations (default: one epoch).") var validateEvery: Int?
    @Option(help: "Training batches to recalibrate batch norms over before saving a model (0: off).") var preciseBn = 16
    @Option(help: "Held-out slide ids, comma-separated.") var validation: String?
    @Option(help: "Engine threads.") var threads = 2
    @Option(help: "Train on the cluster of this configuration (docs/CONFIG.md) instead of this machine.") var config: String?
    @Option(help: "With --config: the member whose workers train (a [member NAME] of the configuration).") var member: String?
    @Option(help: "With --config: follow an earlier run instead of submitting one.") var attach: UInt64?
    @Option(help: "With --config: sum gradients over the ring in buckets of this many MB while the backward pass runs (0: one sum after it).") var bucketMb =
        25.0
    @Flag(
        help:
            "With --config: synchronised batch norm: every worker normalises with the whole global batch's statistics (PyTorch's SyncBatchNorm) instead of its own share's."
    ) var syncBn = false
    @Option(
        help:
            "Replay the cluster run in this folder (the coordinator's STATE/train-ID) on this machine, up to its last checkpoint, and say whether the result is the run's, bit for bit; with --data, and --out for the replayed weights."
    ) var replay: String?
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard data != nil || attach != nil else { throw ValidationError("give --data DIR: the folder with train.csv") }
        if replay != nil {
            guard config == nil, resume == nil, member == nil, attach == nil else { throw ValidationError("--replay takes --data and --out only") }
            return
        }
        if config != nil {
            guard out != nil else { throw ValidationError("with --config, give --out MODEL.safetensors: the trained model is written there") }
            guard resume == nil else {
                throw ValidationError("--resume is for runs on this machine; a cluster run goes on by itself, follow it with --attach RUN")
            }
            guard attach != nil || member != nil else { throw ValidationError("with --config, give --member NAME (or --attach RUN)") }
            guard bucketMb >= 0 else { throw ValidationError("--bucket-mb must not be negative") }
            return
        }
        guard member == nil, attach == nil, !syncBn else { throw ValidationError("--member, --attach and --sync-bn need --config: they are for cluster runs") }
        guard (out == nil) != (resume == nil) else { throw ValidationError("give --out for a new run or --resume for an existing one") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let validateEvery, validateEvery < 0 { throw ValidationError("--validate-every must not be negative") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    /// The run's settings from the options.
    func settings() throws -> TrainingSettings {
        var settings = TrainingSettings()
        settings.architecture = model
        settings.batch = batch; settings.tile = tile; settings.scale = scale; settings.lr = lr
        settings.optimizer = optimizer; settings.loss = loss; settings.dropConnect = dropConnect
        settings.schedule = schedule; settings.warmUpSteps = warmUp; settings.weightDecay = weightDecay
        settings.decayNormsAndBiases = decayNormsAndBiases; settings.encoderScale = encoderLrScale
        settings.freezeEncoder = freezeEncoder; settings.clipNorm = clipNorm; settings.dropout = !noDropout
        settings.augment = !noAugment; settings.seed = seed; settings.checkpointEvery = checkpointEvery
        settings.preciseBatchNormBatches = preciseBn
        settings.hedJitter = hedJitter
        settings.binEdges = try bins.split(separator: ",").map {
            guard let edge = Double($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--bins: \"\($0)\" is not a number") }
            return edge
        }
        settings.validation = validation.map { $0.split(separator: ",").map(String.init) }
        settings.steps = steps ?? 1
        return settings
    }

    /// Says at what pixel size a model was trained (its file says it too), and how to declare it.
    static func notePixelSize(of model: String) {
        guard let size = SafeTensors.trainedPixelSize(atPath: model) else { return }
        print(
            String(
                format: "trained at %g µm/pixel (written in the file): infer takes it from there; in cluster.conf declare the member with pixel_size = %g",
                size, size))
    }

    func run() throws {
        if let replay { return try runReplay(replay) }
        if let config { return try runOnCluster(config) }
        CNNModel.setThreads(threads)
        let run: TrainingRun
        if let resume {
            run = try TrainingRun.resume(folder: resume, dataFolder: data!)
            ProgressReporter.note("resuming \(resume) at step \(run.record.step) of \(run.record.settings.steps)")
        } else {
            let settings = try settings()
            run = try TrainingRun(folder: out!, dataFolder: data!, settings: settings, weights: weights)
            // Epochs are known once the tiles are cut; the default is 200 steps.
            let perEpoch = (run.data.tiles.count + batch - 1) / batch
            run.configure(steps: steps ?? epochs.map { $0 * perEpoch } ?? 200, validateEvery: validateEvery ?? perEpoch)
            ProgressReporter.note(
                "\(run.data.tiles.count) training tiles, \(run.validationData?.tiles.count ?? 0) validation tiles; "
                    + "\(run.record.settings.steps) steps of \(batch)")
        }
        let reporter = ProgressReporter("train", quiet: quiet)
        run.onProgress = { p in
            guard !quiet else { return }
            reporter.update(p.step, of: p.steps, unit: String(format: "steps, loss %.4f, lr %.2e, %.2f images/s", p.loss, p.lr, p.imagesPerSecond))
        }
        run.onMessage = { ProgressReporter.note($0) }
        StopSignal.install()
        run.shouldStop = { StopSignal.requested }
        guard try run.run() else {
            ProgressReporter.note(
                "stopped at step \(run.record.step) of \(run.record.settings.steps), checkpointed: "
                    + "continue with tessera train --data \(data!) --resume \(run.folder)")
            return
        }
        print(run.modelPath)
        if let last = run.record.validation.last { print(String(format: "validation Dice %.4f at step %d", last.dice, last.step)) }
        Self.notePixelSize(of: run.modelPath)
    }

    /// Submits the run to the coordinator (or follows run `attach`) and writes its model.
    private func runOnCluster(_ configPath: String) throws {
        let cluster = try ClusterConfig(contentsOf: configPath)
        var submit: Wire.TrainSubmit?
        if attach == nil, let member {
            let configured = try cluster.member(named: member)
            guard CNNModel.architectures.contains(configured.architecture) else {
                throw TesseraError(
                    configPath,
                    "member \(member) is a \(configured.architecture), which has no weights to train (trainable: \(CNNModel.architectures.joined(separator: ", ")))"
                )
            }
            var settings = try settings()
            if model == "effunet-b0", configured.architecture != model { settings.architecture = configured.architecture }
            guard settings.architecture == configured.architecture else {
                throw ValidationError("member \(member) is a \(configured.architecture), not a \(settings.architecture): leave --model out")
            }
            settings.bucketMegabytes = bucketMb > 0 && !syncBn ? bucketMb : nil
            settings.synchronisedBatchNorm = syncBn ? true : nil
            try settings.check()
            // The data's errors here, before anything is submitted; workers read the same folder.
            let folder = URL(fileURLWithPath: data!).standardizedFileURL.path
            let (tiles, held) = try settings.datasets(dataFolder: folder)
            let perEpoch = (tiles.tiles.count + batch - 1) / batch
            settings.steps = steps ?? epochs.map { $0 * perEpoch } ?? 200
            settings.validateEvery = validateEvery ?? perEpoch
            ProgressReporter.note("\(tiles.tiles.count) training tiles, \(held?.tiles.count ?? 0) validation tiles; \(settings.steps) steps of \(batch)")
            let json = try JSONEncoder().encode(settings)
            let weightsPath = weights.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            submit = Wire.TrainSubmit(
                name: (folder as NSString).lastPathComponent, member: member, data: folder, weights: weightsPath,
                settings: String(decoding: json, as: UTF8.self))
        }
        StopSignal.install()
        let client = try ClusterClient(config: cluster)
        let reporter = ProgressReporter("train", quiet: quiet)
        var validations = 0, reportedEnd = false
        let finished = try client.train(
            submit, attach: attach, modelPath: out!,
            progress: { p in
                for v in p.validation.dropFirst(validations) { ProgressReporter.note(String(format: "step %d: validation Dice %.4f", v.step, v.dice)) }
                validations = max(validations, p.validation.count)
                guard !quiet, !reportedEnd else { return }
                reportedEnd = p.step >= p.steps
                var unit = "steps, " + (p.state == .waiting ? p.note ?? p.state.rawValue : p.state.rawValue)
                if let loss = p.loss { unit += String(format: ", loss %.4f", loss) }
                if let rate = p.imagesPerSecond { unit += String(format: ", %.2f images/s", rate) }
                unit += p.ring.isEmpty ? "" : ", ring of \(p.ring.count)"
                if let note = p.note, p.state != .waiting { unit += " (\(note))" }
                reporter.update(p.step, of: p.steps, unit: unit)
            },
            accepted: { job in
                ProgressReporter.note("run \(job) accepted; if this command stops, follow it with --attach \(job)")
            },
            silent: { seconds in
                ProgressReporter.note("no word from the coordinator for \(Int(seconds)) s; asking for the run again")
            })
        print(out!)
        if let dice = finished.dice { print(String(format: "validation Dice %.4f at step %d", dice, finished.steps)) }
        Self.notePixelSize(of: out!)
    }

    /// Replays a cluster run to its last checkpoint and compares.
    private func runReplay(_ folder: String) throws {
        CNNModel.setThreads(1)
        let reporter = ProgressReporter("replay", quiet: quiet)
        let verdict = try DataParallelReplay.replay(runFolder: folder, dataFolder: data!) { reporter.update($0, of: $1, unit: "steps") }
        if let out { try AtomicFile.write(verdict.weights, to: out) }
        guard verdict.identical else {
            print("differs: the replay's weights after step \(verdict.step) are not the run's checkpoint")
            throw ExitCode(1)
        }
        print("identical: the replay's weights after step \(verdict.step) are the run's checkpoint, bit for bit")
    }
}
