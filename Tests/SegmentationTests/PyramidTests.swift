import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Segmentation

/// Slides with reduced copies: levels found, read, and segmenting from one equals
/// segmenting the full-resolution slide shrunk to the member's pixel size.
@Suite struct PyramidTests {
    static func slide(_ folder: TemporaryDirectory, width: Int = 1024, height: Int = 768, pyramid: [Int] = [2, 4], aperio: Bool = true) throws -> String {
        try SyntheticSlideWriter.write(SyntheticSlide(width: width, height: height, seed: 31), to: folder.path, pyramid: pyramid, aperio: aperio).slidePath
    }

    @Test func levelsAreFoundAndAreTheBlockAverages() throws {
        let folder = try TemporaryDirectory()
        let path = try Self.slide(folder, width: 1001, height: 763, pyramid: [2, 8])
        let full = try SlideReader(path: path)
        #expect(full.levels.map(\.downsample) == [1, 2, 8])
        #expect(full.levels.map(\.directory.width) == [1001, 501, 126])
        #expect(full.micronsPerPixel == 0.5)
        let level = try SlideReader(path: path, downsample: 2)
        #expect(level.width == 501 && level.height == 382 && level.micronsPerPixel == 0.5)
        // Interior blocks: the level's pixel is the rounded average of its 2 × 2 block.
        let region = try full.readRGB(x: 200, y: 100, width: 64, height: 64)
        #expect(try level.readRGB(x: 100, y: 50, width: 32, height: 32) == Resample.pixels(region, to: 32))
        // The last, partial column averages the pixels there are.
        let edge = try full.readRGB(x: 1000, y: 0, width: 1, height: 2)
        let expected: [UInt8] = (0..<3).map { (c: Int) -> UInt8 in
            let sum: Int = Int(edge.pixels[c]) + Int(edge.pixels[3 + c])
            return UInt8((sum + 1) / 2)
        }
        #expect(try level.readRGB(x: 500, y: 0, width: 1, height: 1).pixels == expected)
        #expect(throws: TesseraError.self) { try SlideReader(path: path, downsample: 4) }
    }

    /// Predicts brightness pixel by pixel: whatever differs between the two paths is in the
    /// pixels the model saw, not in a receptive field.
    final class Brightness: TilePredictor {
        let name = "brightness"
        func predict(_ tile: PixelImage) throws -> [Float] {
            stride(from: 0, to: tile.pixels.count, by: 3).map { i in
                Float(Int(tile.pixels[i]) + Int(tile.pixels[i + 1]) + Int(tile.pixels[i + 2])) / 765
            }
        }
    }

    static func probabilities(
        _ slide: String, folder: TemporaryDirectory, memberPixelSize: Double?, useLevels: Bool,
        pixelSize: Double? = nil, tag: String
    ) throws -> (summary: LocalSegmentation.Summary, values: [UInt8]) {
        let settings = SegmentationSettings(tileSize: 256, margin: 32, tissue: TissueDetection(method: .off), pixelSize: pixelSize, useLevels: useLevels)
        let job = try LocalSegmentation(settings: settings, members: [.init(predictor: Brightness(), pixelSize: memberPixelSize)])
        let probabilities = folder.file("p-\(tag).tiff")
        let summary = try job.run(slidePath: slide, maskPath: folder.file("m-\(tag).tiff"), probabilityPath: probabilities)
        let reader = try SlideReader(path: probabilities)
        return (summary, try reader.readFirstChannel(x: 0, y: 0, width: reader.width, height: reader.height).pixels)
    }

    /// The documented tolerance: equal bits away from the slide's edges (where reflection
    /// differs between levels), and within 2/255 everywhere.
    @Test func aLevelGivesWhatShrinkingTheFullSlideGives() throws {
        let folder = try TemporaryDirectory()
        let path = try Self.slide(folder)
        let full = try Self.probabilities(path, folder: folder, memberPixelSize: 1.0, useLevels: false, tag: "full")
        let level = try Self.probabilities(path, folder: folder, memberPixelSize: 1.0, useLevels: true, tag: "level")
        #expect(full.summary.downsample == 1 && level.summary.downsample == 2)
        let width = 1024, height = 768
        var largest = 0, interiorDiffering = 0
        for y in 0..<height {
            for x in 0..<width {
                let difference = abs(Int(full.values[y * width + x]) - Int(level.values[y * width + x]))
                largest = max(largest, difference)
                if difference > 0 && x >= 4 && y >= 4 && x < width - 4 && y < height - 4 { interiorDiffering += 1 }
            }
        }
        #expect(interiorDiffering == 0)
        #expect(largest <= 2, "largest difference \(largest)/255")
        // And the member at 1 µm sees another picture than at the slide's own 0.5 µm.
        let native = try Self.probabilities(path, folder: folder, memberPixelSize: nil, useLevels: true, tag: "native")
        #expect(native.values != full.values)
    }

    @Test func aMemberAtTheSlidesPixelSizeChangesNothing() throws {
        let folder = try TemporaryDirectory()
        let path = try Self.slide(folder, pyramid: [])
        let native = try Self.probabilities(path, folder: folder, memberPixelSize: nil, useLevels: true, tag: "native")
        let declared = try Self.probabilities(path, folder: folder, memberPixelSize: 0.5, useLevels: true, tag: "declared")
        #expect(native.values == declared.values)
    }

    @Test func anUnknownPixelSizeIsAskedFor() throws {
        let folder = try TemporaryDirectory()
        var writer: TiledImageWriter? = try TiledImageWriter(path: folder.file("plain.tiff"), width: 64, height: 64, channels: 3)
        try writer!.append(rows: [UInt8](repeating: 128, count: 64 * 64 * 3))
        try writer!.finish()
        writer = nil
        #expect { try Self.probabilities(folder.file("plain.tiff"), folder: folder, memberPixelSize: 1.0, useLevels: true, tag: "unknown") } throws: {
            ($0 as? TesseraError)?.reason.contains("--pixel-size") == true
        }
        // Given, the slide is taken at that size: 64 pixels at 2 µm for a member at 1 µm grow to 128.
        let given = try Self.probabilities(folder.file("plain.tiff"), folder: folder, memberPixelSize: 1.0, useLevels: true, pixelSize: 2.0, tag: "given")
        #expect(given.values.allSatisfy { $0 == 128 })
    }
}
