import ArgumentParser
import Core
import Engine
import Foundation

/// `tessera bench train`: seconds per training step (forward, backward, AdamW).
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time training steps of a model: median s/step, images/s and peak RSS.",
        discussion:
            "Deterministic weights and a fixed random batch with disc masks; the default loss and AdamW. bench/train.sh runs this beside PyTorch, taking turns step by step, and prints the ratio, phase by phase too (forward with the loss, backward, optimiser step)."
    )

    @Option(help: "The architecture.") var model: Architecture = .effUnet(.named("b0")!)
    @Option(help: "Tile side.") var tile = 256
    @Option(help: "Images a step.") var batch = 8
    @Option(help: "Timed steps (after one warm-up); the median is reported.") var steps = 3
    @Option(help: "Engine threads.") var threads = 2
    @Flag(
        help: ArgumentHelp(
            "Time one step per line read from standard input (bench/train.sh).",
            discussion: "Prints {\"model\"} after a warm-up step, {\"s\"} per line read, and {\"rss_mb\"} at the end of input."))
    var serve = false

    func validate() throws {
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2 (batch statistics)") }
        guard tile >= 32, tile % 32 == 0 else { throw ValidationError("--tile must be a multiple of 32") }
    }

    func run() throws {
        CNNModel.setThreads(threads)
        let store = ParameterStore(architecture: model)
        try store.load(from: DeterministicWeights())
        let trainer = ModelTrainer(model, store: store)
        let (images, masks) = Self.syntheticBatch(batch, tile: tile, seed: 7)
        var optimizerSeconds = 0.0
        func step() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.gradients(images: images, masks: masks)
            let stepStart = DispatchTime.now().uptimeNanoseconds
            trainer.step(lr: 1e-4)
            let end = DispatchTime.now().uptimeNanoseconds
            optimizerSeconds = Double(end - stepStart) / 1e9
            return Double(end - start) / 1e9
        }
        func emit(_ line: String) { print(line); fflush(nil) }
        let warmUp = try step()
        if serve {
            emit("{\"model\":\"\(model)\",\"warm_up_s\":\(warmUp)}")
            while readLine() != nil {
                let seconds = try step(), passes = trainer.lastPassSeconds
                emit(
                    "{\"s\":\(seconds),\"forward_s\":\(passes.forward),\"backward_s\":\(passes.backward),\"optimizer_s\":\(optimizerSeconds)}")
            }
            emit("{\"rss_mb\":\(PeakMemory.megabytes())}")
            return
        }
        print(BenchMachine.line)
        let times = try (0..<max(1, steps)).map { _ in try step() }.sorted()
        let median = times[times.count / 2]
        print(
            String(
                format: "%@: %.2f s/step (median of %d; %d×%d², %d threads), %.2f images/s, peak RSS %.0f MB",
                model.name, median, times.count, batch, tile, threads, Double(batch) / median, PeakMemory.megabytes()))
    }

    /// The benchmarks' training batch: images of uniform noise in [−1, 1) from `seed`, masks
    /// of a centred disc of radius tile/4 + b in image b.
    static func syntheticBatch(_ count: Int, tile: Int, seed: UInt64) -> (images: [Tensor], masks: [[Float]]) {
        var random = SplitMix64(seed: seed)
        let plane = tile * tile
        let images = (0..<count).map { _ in Tensor(channels: 3, height: tile, width: tile, data: (0..<(3 * plane)).map { _ in random.nextSigned() }) }
        let masks = (0..<count).map { b -> [Float] in
            let (r, centre) = (tile / 4 + b, tile / 2)
            return (0..<plane).map { i in (i / tile - centre) * (i / tile - centre) + (i % tile - centre) * (i % tile - centre) <= r * r ? 1 : 0 }
        }
        return (images, masks)
    }
}
