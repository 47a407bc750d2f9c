import Core
import Engine
import Foundation
import Segmentation
import TestSupport
import Testing

@testable import Training

/// The training loop on tiny synthetic slides: resuming, failures and data errors.
@Suite(.serialized) struct TrainingRunTests {
    /// Two 384² synthetic slides (one held out) in a training folder.
    static func data() throws -> TemporaryDirectory {
        let folder = try TemporaryDirectory()
        for seed in [1, 2] as [UInt64] { _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 384, height: 384, seed: seed), to: folder.path) }
        return folder
    }

    static func settings(steps: Int) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.steps = steps
        settings.batch = 2
        settings.tile = 32
        settings.scale = 2
        settings.checkpointEvery = 2
        settings.preciseBatchNormBatches = 1
        return settings
    }

    static func bytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    @Test func resumingEqualsNeverStopping() throws {
        try KernelBuildLock.holdingTheBuild { try resumingEqualsNeverStoppingWithTheBuildHeld() }
    }

    private func resumingEqualsNeverStoppingWithTheBuildHeld() throws {
        let data = try Self.data(), runs = try TemporaryDirectory()
        let straight = try TrainingRun(folder: runs.file("straight"), dataFolder: data.path, settings: Self.settings(steps: 4), weights: nil)
        try straight.run()
        let stopped = try TrainingRun(folder: runs.file("stopped"), dataFolder: data.path, settings: Self.settings(steps: 4), weights: nil)
        try stopped.run(until: 2)
        let resumed = try TrainingRun.resume(folder: runs.file("stopped"), dataFolder: data.path)
        #expect(resumed.record.step == 2)
        try resumed.run()
        #expect(resumed.record.losses == straight.record.losses)
        for file in ["model.safetensors", "checkpoint/weights.safetensors", "checkpoint/optimizer.safetensors"] {
            let a = Self.bytes(runs.file("straight/" + file)), b = Self.bytes(runs.file("stopped/" + file))
            #expect(!a.isEmpty && a == b, "\(file) differs after resuming")
        }
        #expect(straight.record.losses.count == 4 && straight.record.validation.count == 2)
        // The saved model is one `tessera infer` loads, and says it learnt 0.5 µm slides shrunk 2×.
        _ = try CNNModel(architecture: "effunet-b0", weights: try SafeTensorsWeights(path: straight.modelPath))
        #expect(SafeTensors.trainedPixelSize(atPath: straight.modelPath) == 1.0)
        #expect(try SafeTensors(path: straight.modelPath).metadata == ["pixel_size": "1"])
        // It holds every key of the PyTorch module, the unused ones too (strict loading).
        let names = Set(try SafeTensors(path: straight.modelPath).names)
        let expected = Set(
            Architecture.effUnet(.named("b0")!).parameterShapes.map(\.key) + Architecture.effUnet(.named("b0")!).unusedParameterShapes.map(\.key))
        #expect(names == expected, "\(names.symmetricDifference(expected).sorted().prefix(5))")
        #expect(names.isSuperset(of: ["aspp.conv1.weight", "encoder._conv_head.weight", "encoder._fc.bias"]))
    }

    /// Ctrl-C between checkpoints: the step reached is checkpointed, and resuming from it
    /// ends where an uninterrupted run does.
    @Test func aStopRequestCheckpointsTheStepReached() throws {
        try KernelBuildLock.holdingTheBuild { try aStopRequestCheckpointsTheStepReachedWithTheBuildHeld() }
    }

    private func aStopRequestCheckpointsTheStepReachedWithTheBuildHeld() throws {
        let data = try Self.data(), runs = try TemporaryDirectory()
        var settings = Self.settings(steps: 4)
        settings.checkpointEvery = 100
        let straight = try TrainingRun(folder: runs.file("straight"), dataFolder: data.path, settings: settings, weights: nil)
        #expect(try straight.run())
        let stopped = try TrainingRun(folder: runs.file("stopped"), dataFolder: data.path, settings: settings, weights: nil)
        stopped.shouldStop = { stopped.record.step == 3 }
        #expect(try stopped.run() == false)
        #expect(stopped.lastCheckpoint == 3)
        let resumed = try TrainingRun.resume(folder: runs.file("stopped"), dataFolder: data.path)
        #expect(try resumed.run())
        #expect(Self.bytes(runs.file("straight/checkpoint/weights.safetensors")) == Self.bytes(runs.file("stopped/checkpoint/weights.safetensors")))
    }

    @Test func resumingOnOtherDataIsRefused() throws {
        let data = try Self.data(), runs = try TemporaryDirectory()
        let run = try TrainingRun(folder: runs.file("run"), dataFolder: data.path, settings: Self.settings(steps: 4), weights: nil)
        try run.run(until: 2)
        _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 384, height: 384, seed: 3), to: data.path)
        do {
            _ = try TrainingRun.resume(folder: runs.file("run"), dataFolder: data.path)
            Issue.record("resumed on a changed train.csv")
        } catch let error as TesseraError {
            #expect(error.code == .mismatch && error.subject == data.path, "\(error)")
        }
        #expect(throws: TesseraError.self) { try TrainingRun(folder: runs.file("run"), dataFolder: data.path, settings: Self.settings(steps: 4), weights: nil) }
    }

    @Test func aDivergingLossStopsAndKeepsTheLastCheckpoint() throws {
        let data = try Self.data(), runs = try TemporaryDirectory()
        var settings = Self.settings(steps: 6)
        settings.checkpointEvery = 1
        settings.lr = 1e30
        let run = try TrainingRun(folder: runs.file("run"), dataFolder: data.path, settings: settings, weights: nil)
        do {
            try run.run()
            Issue.record("a learning rate of 1e30 trained on")
        } catch let error as TesseraError {
            #expect(error.code == .diverged && error.reason.contains("checkpoint (step \(run.lastCheckpoint)) is kept"), "\(error)")
            #expect(run.lastCheckpoint >= 1 && run.lastCheckpoint < 6)
        }
    }

    /// HuBMAP 2021: train.csv with id,encoding; images in train/; masks from the RLE only.
    @Test func kaggle2021LayoutTrainsFromTheRLE() throws {
        let synth = try Self.data(), kaggle = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: kaggle.file("train"), withIntermediateDirectories: true)
        var csv = "id,encoding\n"
        for record in try TrainingRecord.read(synth.file("train.csv")) {
            try FileManager.default.copyItem(atPath: synth.file(record.id + ".tiff"), toPath: kaggle.file("train/" + record.id + ".tiff"))
            csv += "\(record.id),\(record.rle)\n"
        }
        try csv.write(toFile: kaggle.file("train.csv"), atomically: true, encoding: .utf8)
        let set = try TrainingSet(folder: kaggle.path)
        #expect(set.slides.count == 2 && set.slides.allSatisfy { if case .rle = $0.mask { true } else { false } })
        // The same tiles and masks as the synth folder's mask TIFFs give.
        var settings = TileDataset.Settings()
        settings.tile = 32
        settings.augment = false
        let fromRLE = try TileDataset(slides: set.slides, settings: settings, seed: 1)
        let fromTIFF = try TileDataset(slides: TrainingSet(folder: synth.path).slides, settings: settings, seed: 1)
        #expect(fromRLE.tiles.count == fromTIFF.tiles.count && fromRLE.tiles.count > 0)
        // The 2021 layout has no pixel_size column: the slides' files say 0.5 µm.
        #expect(fromRLE.pixelSize == 0.5 * Double(settings.scale) && fromTIFF.pixelSize == fromRLE.pixelSize)
        #expect(try fromRLE.batch(step: 0, size: 4).masks == fromTIFF.batch(step: 0, size: 4).masks)
    }

    @Test func anIdWithoutAnImageIsNamed() throws {
        let data = try Self.data()
        let csv = data.file("train.csv")
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        try (text + "ghost,kidney,384,384,0.5,10,1 5\n").write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(throws: TesseraError.self) { try TrainingSet(folder: data.path) }
        do { _ = try TrainingSet(folder: data.path) } catch let error as TesseraError { #expect(error.code == .notFound && error.reason.contains("ghost")) }
    }

    @Test func aMaskOfAnotherSizeIsNamed() throws {
        let data = try Self.data()
        let other = try TemporaryDirectory()
        _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 256, height: 384, seed: 1), to: other.path)
        try FileManager.default.removeItem(atPath: data.file("synth_1_mask.tiff"))
        try FileManager.default.copyItem(atPath: other.file("synth_1_mask.tiff"), toPath: data.file("synth_1_mask.tiff"))
        let set = try TrainingSet(folder: data.path)
        do {
            _ = try TileDataset(slides: set.slides, settings: TileDataset.Settings(), seed: 1)
            Issue.record("a 256×384 mask was taken for a 384×384 slide")
        } catch let error as TesseraError {
            #expect(error.code == .mismatch && error.subject.hasSuffix("synth_1_mask.tiff") && error.reason.contains("256×384"), "\(error)")
        }
    }

    @Test func batchesAreAFunctionOfTheStep() throws {
        let data = try Self.data()
        let set = try TrainingSet(folder: data.path)
        var settings = TileDataset.Settings()
        settings.tile = 32
        let a = try TileDataset(slides: set.slides, settings: settings, seed: 5), b = try TileDataset(slides: set.slides, settings: settings, seed: 5)
        #expect(try a.batch(step: 3, size: 4).images == b.batch(step: 3, size: 4).images)
        #expect(try a.batch(step: 3, size: 4).images != a.batch(step: 4, size: 4).images)
    }
}
