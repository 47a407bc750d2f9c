import ArgumentParser
import Core
import Engine
import Foundation
import Training

/// `tessera train`: trains a member on one machine.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a CNN member on slides and masks, on this machine.",
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
        """
    )

    @Option(help: "The architecture: \(CNNModel.architectures.joined(separator: ", ")).") var model = "effunet-b0"
    @Option(help: "The training folder (with train.csv).") var data: String
    @Option(help: "The run folder to create (or, with --resume, to continue).") var out: String?
    @Option(help: "Continue the run in this folder from its last checkpoint.") var resume: String?
    @Option(help: "Initial weights (.safetensors); default: deterministic untrained weights.") var weights: String?
    @Option(help: "Optimiser steps (overrides --epochs).") var steps: Int?
    @Option(help: "Passes over the training tiles.") var epochs: Int?
    @Option(help: "Tiles a step.") var batch = 8
    @Option(help: "Tile side in pixels after scaling (multiple of 32).") var tile = 256
    @Option(help: "Slide pixels per tile pixel (2: half resolution).") var scale = 2
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "adamw or sgd (momentum 0.9, Nesterov).") var optimizer = "adamw"
    @Option(help: "bce-dice (mean BCE + soft Dice per image), bce, dice or lovasz (symmetric Lovász hinge).") var loss = "bce-dice"
    @Option(help: "onecycle or cosine.") var schedule = "onecycle"
    @Option(help: "Warm-up steps of the cosine schedule.") var warmUp = 0
    @Option(help: "AdamW weight decay.") var weightDecay = 0.01
    @Flag(help: "Decay biases and norms' gains too (PyTorch's default; off as fast.ai trains).") var decayNormsAndBiases = false
    @Option(help: "The encoder's learning rate as a fraction of the decoder's.") var encoderLrScale = 1.0
    @Flag(help: "Do not update the encoder.") var freezeEncoder = false
    @Option(help: "Clip gradients to this global norm.") var clipNorm: Double?
    @Flag(help: "Turn the seed's Dropout2d layers off.") var noDropout = false
    @Option(help: "EfficientNet's drop-connect rate (0, as the seed's EffUnet).") var dropConnect = 0.0
    @Flag(help: "Turn augmentation off.") var noAugment = false
    @Option(help: "Lower edges of the masked-fraction bins each batch draws from equally, comma-separated.") var bins = "0,1e-9,0.1,0.4"
    @Option(help: "Seed of sampling, augmentation and dropout.") var seed: UInt64 = 1
    @Option(help: "Steps between checkpoints (each also validates).") var checkpointEvery = 50
    @Option(help: "Steps between validations (default: one epoch).") var validateEvery: Int?
    @Option(help: "Training batches to recalibrate batch norms over before saving a model (0: off).") var preciseBn = 16
    @Option(help: "Held-out slide ids, comma-separated.") var validation: String?
    @Option(help: "Engine threads.") var threads = 2
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard (out == nil) != (resume == nil) else { throw ValidationError("give --out for a new run or --resume for an existing one") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let validateEvery, validateEvery < 0 { throw ValidationError("--validate-every must not be negative") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        CNNModel.setThreads(threads)
        let run: TrainingRun
        if let resume {
            run = try TrainingRun.resume(folder: resume, dataFolder: data)
            ProgressReporter.note("resuming \(resume) at step \(run.record.step) of \(run.record.settings.steps)")
        } else {
            var settings = TrainingSettings()
            settings.architecture = model
            settings.batch = batch; settings.tile = tile; settings.scale = scale; settings.lr = lr
            settings.optimizer = optimizer; settings.loss = loss; settings.dropConnect = dropConnect
            settings.schedule = schedule; settings.warmUpSteps = warmUp; settings.weightDecay = weightDecay
            settings.decayNormsAndBiases = decayNormsAndBiases; settings.encoderScale = encoderLrScale
            settings.freezeEncoder = freezeEncoder; settings.clipNorm = clipNorm; settings.dropout = !noDropout
            settings.augment = !noAugment; settings.seed = seed; settings.checkpointEvery = checkpointEvery
            settings.preciseBatchNormBatches = preciseBn
            settings.binEdges = try bins.split(separator: ",").map {
                guard let edge = Double($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--bins: \"\($0)\" is not a number") }
                return edge
            }
            settings.validation = validation.map { $0.split(separator: ",").map(String.init) }
            settings.steps = steps ?? 1
            run = try TrainingRun(folder: out!, dataFolder: data, settings: settings, weights: weights)
            // Epochs are known once the tiles are cut; the default is 200 steps.
            let perEpoch = (run.data.tiles.count + batch - 1) / batch
            run.configure(steps: steps ?? epochs.map { $0 * perEpoch } ?? 200, validateEvery: validateEvery ?? perEpoch)
            ProgressReporter.note("\(run.data.tiles.count) training tiles, \(run.validationData?.tiles.count ?? 0) validation tiles; "
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
            ProgressReporter.note("stopped at step \(run.record.step) of \(run.record.settings.steps), checkpointed: "
                                  + "continue with tessera train --data \(data) --resume \(run.folder)")
            return
        }
        print(run.modelPath)
        if let last = run.record.validation.last { print(String(format: "validation Dice %.4f at step %d", last.dice, last.step)) }
    }
}
