import ArgumentParser
import Core
import Engine
import Foundation
import Shared

/// `tessera bench engine`: per-tile time of the CNN members.
struct EngineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time the CNN engine on one tile: median (and fastest) ms/tile, GFLOP/s and peak RSS per model.",
        discussion:
            "Weights are deterministic (the same as the golden tests'), so no weight file is needed. bench/engine.sh runs this beside PyTorch and onnxruntime on the same models and prints the ratios."
    )

    @Option(help: "Models, comma-separated.") var models = "effunet-b0,effunet-b5,unext50"
    @Option(help: "Tile side.") var tile = 512
    @Option(help: "Timed runs per model (after one warm-up); the median is reported.") var repeats = 5
    @Option(help: "Engine threads.") var threads = 2
    @Flag(help: "Print one JSON object per model instead of text.") var json = false
    @Flag(help: "Also print where the time goes, by convolution shape (the 25 costliest).") var layers = false
    @Flag(
        help: ArgumentHelp(
            "Time one tile per line read from standard input, for a driver that interleaves other runtimes (bench/engine.sh).",
            discussion:
                "Loads the one model of --models, runs a warm-up tile and prints {\"model\",\"gmacs\"}; then each input line runs one tile and prints {\"ms\"}; at the end of input it prints {\"rss_mb\"} and exits."
        ))
    var serve = false

    func validate() throws {
        if serve, models.contains(",") { throw ValidationError("--serve times one model: give --models one name") }
    }

    func run() throws {
        CNNModel.setThreads(threads)
        if !serve && !json { print(BenchMachine.line) }
        for model in models.split(separator: ",").map(String.init) {
            let network = try CNNModel.network(model, weights: DeterministicWeights())
            var values = UInt64(7)
            let input = Tensor(
                channels: 3, height: tile, width: tile,
                data: (0..<(3 * tile * tile)).map { _ in
                    values = values &* 6_364_136_223_846_793_005 &+ 1
                    return Float(values >> 40) / Float(1 << 24) - 0.5
                })
            LayerProfile.reset()
            LayerProfile.isRecording = true
            _ = network.logits(input)  // warm-up, and the count of multiply-adds
            let macs = Double(LayerProfile.multiplyAdds)
            if serve { return serveTiles(model: model, macs: macs) { _ = network.logits(input) } }
            LayerProfile.reset()
            LayerProfile.isRecording = layers
            var times: [Double] = []
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = network.logits(input)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            LayerProfile.isRecording = false
            let median = times.sorted()[times.count / 2], fastest = times.min()!
            let gflops = 2 * macs / (median / 1000) / 1e9
            if json {
                print(
                    "{\"model\":\"\(model)\",\"ms\":\(median),\"fastest_ms\":\(fastest),\"gmacs\":\(macs / 1e9),\"gflops\":\(gflops),\"rss_mb\":\(PeakMemory.megabytes())}"
                )
            } else {
                print(
                    String(
                        format: "%@: %.0f ms/tile (median of %d; fastest %.0f; %d×%d, %d threads), %.1f GMACs, %.0f GFLOP/s, peak RSS %.0f MB",
                        model, median, times.count, fastest, tile, tile, threads, macs / 1e9, gflops, PeakMemory.megabytes()))
            }
            if layers { printLayers(runs: times.count, total: times.reduce(0, +) / 1000) }
        }
    }

    /// Runs `tile` once per line of standard input and prints its time, so that a driver can
    /// alternate this engine with other runtimes tile by tile: both then see the same machine,
    /// which drifts by tens of percent over minutes here.
    private func serveTiles(model: String, macs: Double, tile: () -> Void) {
        // Each line goes out at once: the driver waits for it (nil flushes every stream).
        func emit(_ line: String) { print(line); fflush(nil) }
        LayerProfile.isRecording = false
        emit("{\"model\":\"\(model)\",\"gmacs\":\(macs / 1e9)}")
        while readLine() != nil {
            let start = DispatchTime.now().uptimeNanoseconds
            tile()
            emit("{\"ms\":\(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)}")
        }
        emit("{\"rss_mb\":\(PeakMemory.megabytes())}")
    }

    /// The costliest convolution shapes of the timed runs, per tile.
    private func printLayers(runs: Int, total: Double) {
        let entries = LayerProfile.entries.sorted { $0.value.seconds > $1.value.seconds }
        let convolutions = entries.reduce(0) { $0 + $1.value.seconds }
        print(String(format: "  convolutions %.0f%% of the time; per tile:", 100 * convolutions / total))
        for (label, entry) in entries.prefix(25) {
            let ms = entry.seconds / Double(runs) * 1000
            let gflops = 2 * Double(entry.multiplyAdds) / entry.seconds / 1e9
            print(String(format: "  %7.1f ms %5.1f%% %6.0f GFLOP/s  %2d× %@", ms, 100 * entry.seconds / total, gflops, entry.calls / runs, label))
        }
    }
}
