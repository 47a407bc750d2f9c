import ArgumentParser
import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// `tessera inspect`: what a slide file holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a slide's size, layout, compression, pages and resolution.",
        discussion:
            "Lists every page and sub-IFD (or OpenSlide level); the one marked * is the full-resolution image that Tessera segments. TIFF is read by libtiff; other formats (MIRAX, Hamamatsu, Sakura) and the TIFF variants only OpenSlide places right (Leica, Ventana, NDPI, Philips, Trestle) by OpenSlide when libopenslide0 is installed."
    )

    @Argument(help: "The slide (TIFF, BigTIFF, or a format OpenSlide reads).")
    var slide: String
    @Option(help: "Who reads it: auto, tiff (libtiff) or openslide.") var reader: SlideBackend = .automatic

    func validate() throws {
    }

    func run() throws {
        let reader = try SlideReader(path: slide, cacheBytes: 0, backend: self.reader)
        let image = reader.image
        print("\(slide)")
        print("  format: \(image.vendor.map { "\($0) (OpenSlide)" } ?? (reader.isBigTIFF ? "BigTIFF" : "classic TIFF"))")
        print("  read by: \(reader.readBy)")
        print("  size: \(image.width) × \(image.height) pixels")
        print("  samples per pixel: \(image.samplesPerPixel), bits per sample: \(image.bitsPerSample)")
        if let tile = image.tileSize {
            print("  storage: tiles of \(tile.width) × \(tile.height)")
        } else {
            print("  storage: strips of \(image.rowsPerStrip ?? image.height) rows")
        }
        print("  compression: \(image.compressionName)")
        print("  planar configuration: \(image.planarConfig == 2 ? "separate" : "contiguous")")
        print(
            "  resolution: \(image.micronsPerPixel.map { String(format: "%.4g µm/pixel", $0) + " (from the \(image.pixelSizeSource ?? "file"))" } ?? "not given")"
        )
        let levels = reader.levels.map { level in
            let size = reader.micronsPerPixel.map { String(format: ", %.4g µm/pixel", $0 * Double(level.downsample)) } ?? ""
            return "\(level.downsample)× \(level.directory.width)×\(level.directory.height) (\(level.directory.location)\(size))"
        }
        print("  pyramid levels: \(levels.joined(separator: ", "))")
        print("  directories: \(reader.directories.count)")
        for directory in reader.directories {
            let mark = directory.location == image.location ? "*" : " "
            print("  \(mark) \(directory.location): \(directory.summary)")
        }
    }
}
