import ArgumentParser
import Core
import Foundation
import Segmentation
import Shared

/// `tessera inspect`: what a slide file holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a slide's size, layout, compression, pages and resolution.",
        discussion: "Lists every page and sub-IFD; the one marked * is the full-resolution image that Tessera segments."
    )

    @Argument(help: "The slide (TIFF or BigTIFF).")
    var slide: String

    func run() throws {
        let reader = try SlideReader(path: slide, cacheBytes: 0)
        let image = reader.image
        print("\(slide)")
        print("  format: \(reader.isBigTIFF ? "BigTIFF" : "classic TIFF")")
        print("  size: \(image.width) × \(image.height) pixels")
        print("  samples per pixel: \(image.samplesPerPixel), bits per sample: \(image.bitsPerSample)")
        if let tile = image.tileSize {
            print("  storage: tiles of \(tile.width) × \(tile.height)")
        } else {
            print("  storage: strips of \(image.rowsPerStrip ?? image.height) rows")
        }
        print("  compression: \(image.compressionName)")
        print("  planar configuration: \(image.planarConfig == 2 ? "separate" : "contiguous")")
        print("  resolution: \(image.micronsPerPixel.map { String(format: "%.4g µm/pixel", $0) + " (from the \(image.pixelSizeSource ?? "file"))" } ?? "not given")")
        let levels = reader.levels.map { "\($0.downsample)× \($0.directory.width)×\($0.directory.height) (\($0.directory.location))" }
        print("  pyramid levels: \(levels.joined(separator: ", "))")
        print("  directories: \(reader.directories.count)")
        for directory in reader.directories {
            let mark = directory.location == image.location ? "*" : " "
            print("  \(mark) \(directory.location): \(directory.summary)")
        }
    }
}
