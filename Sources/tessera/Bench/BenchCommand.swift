import ArgumentParser
import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// `tessera bench`: measurements, printed as medians with the reference beside them.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure parts of Tessera on this machine.",
        subcommands: [ReadBench.self, ClusterBench.self, EngineBench.self, TrainBench.self, AllReduceBench.self, AllReduceMembers.Member.self]
    )

    /// Reads a whole slide as the tiler does and reports speed and peak memory.
    struct ReadBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "read",
            abstract: "Read every tile (with margin) of a slide; print tiles/s, MB/s of pixels and peak RSS.",
            discussion: "Peak RSS is the process's maximum resident set (getrusage), the figure the Foundation's 300 MB bound is about."
        )
        @Argument(help: "The slide.") var slide: String
        @Option(help: "Tile side.") var tile = 512
        @Option(help: "Context margin.") var margin = 64
        @Option(help: "Passes over the slide; the median is reported.") var repeats = 1

        func run() throws {
            var seconds: [Double] = []
            var tiles = 0, width = 0, height = 0
            var checksum: UInt64 = 0
            for _ in 0..<max(1, repeats) {
                let reader = try SlideReader(path: slide)
                let plan = try TilePlan(imageWidth: reader.width, imageHeight: reader.height, tileSize: tile, margin: margin)
                width = reader.width; height = reader.height; tiles = plan.tileCount
                let progress = ProgressReporter("read")
                let start = Date()
                var done = 0
                for index in plan.tiles {
                    let origin = plan.origin(of: index)
                    let pixels = try reader.readRGB(x: origin.x, y: origin.y, width: tile, height: tile)
                    checksum &+= UInt64(pixels.pixels[pixels.pixels.count / 2])
                    done += 1
                    progress.update(done, of: plan.tileCount, unit: "tiles")
                }
                seconds.append(Date().timeIntervalSince(start))
            }
            let median = seconds.sorted()[seconds.count / 2]
            let megabytes = Double(tiles * tile * tile * 3) / 1e6
            print(BenchMachine.line)
            print("slide \(width)×\(height), \(tiles) tiles of \(tile) (margin \(margin)), checksum \(checksum)")
            print(String(format: "median %.2f s: %.1f tiles/s, %.0f MB/s of RGB tiles", median, Double(tiles) / median, megabytes / median))
            print(String(format: "peak RSS %.0f MB", PeakMemory.megabytes()))
        }
    }
}
