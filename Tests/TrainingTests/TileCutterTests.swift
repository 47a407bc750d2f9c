import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Segmentation
@testable import Training

/// Training tiles cut from a slide whose left half is glass and right half tissue.
@Suite struct TileCutterTests {
    /// 512 × 256: glass (near white) on the left, purple tissue with a square of mask on the right.
    static func slide(in folder: TemporaryDirectory) throws -> (slide: String, mask: String) {
        let (width, height) = (512, 256)
        var rgb = [UInt8](repeating: 0, count: width * height * 3), labels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                let pixel: [UInt8] = x < 256 ? [240, 240, 238] : [150 + UInt8(x % 7), 60, 170]
                for c in 0..<3 { rgb[3 * p + c] = pixel[c] }
                if x >= 320 && x < 384 && y >= 64 && y < 128 { labels[p] = 255 }
            }
        }
        let slidePath = folder.file("slide.tiff"), maskPath = folder.file("mask.tiff")
        let image = try TiledImageWriter(path: slidePath, width: width, height: height, channels: 3)
        try image.append(rows: rgb)
        try image.finish()
        let mask = try TiledImageWriter(path: maskPath, width: width, height: height, channels: 1)
        try mask.append(rows: labels)
        try mask.finish()
        return (slidePath, maskPath)
    }

    @Test func glassIsLeftOutAndMaskedFractionsCounted() throws {
        let folder = try TemporaryDirectory()
        let (slide, mask) = try Self.slide(in: folder)
        let cutter = try TileCutter(slidePath: slide, mask: .tiff(mask), tile: 64, scale: 2)
        // Tiles of 128 slide pixels: 4 × 2 of them, the left half glass.
        #expect(cutter.tiles.map(\.x) == [256, 384, 256, 384] && cutter.tiles.map(\.y) == [0, 0, 128, 128])
        // The mask square (64² slide pixels) lies in the first tissue tile: 32² of its 64² pixels.
        #expect(cutter.tiles.map(\.maskedFraction) == [0.25, 0, 0, 0])
    }

    @Test func tilesAreAreaAveraged() throws {
        let folder = try TemporaryDirectory()
        let (slide, mask) = try Self.slide(in: folder)
        let cutter = try TileCutter(slidePath: slide, mask: .tiff(mask), tile: 64, scale: 2)
        let (image, labels) = try cutter.read(x: 256, y: 0)
        let full = try SlideReader(path: slide).readRGB(x: 256, y: 0, width: 128, height: 128)
        for (ty, tx) in [(0, 0), (10, 31), (63, 63)] {
            for c in 0..<3 {
                let sum = [(0, 0), (0, 1), (1, 0), (1, 1)].map { Int(full.pixels[3 * ((2 * ty + $0) * 128 + 2 * tx + $1) + c]) }.reduce(0, +)
                #expect(Int(image.pixels[3 * (ty * 64 + tx) + c]) == (sum + 2) / 4)
            }
        }
        #expect(labels.pixels.reduce(0) { $0 + Int($1) } == 32 * 32 && labels.pixels[32 * 64 + 32] == 1 && labels.pixels[0] == 0)
    }

    @Test func aMaskOfAnotherSizeIsAClearError() throws {
        let folder = try TemporaryDirectory()
        let (slide, _) = try Self.slide(in: folder)
        let other = folder.file("small.tiff")
        let writer = try TiledImageWriter(path: other, width: 16, height: 16, channels: 1)
        try writer.append(rows: [UInt8](repeating: 0, count: 256))
        try writer.finish()
        #expect(throws: TesseraError.self) { try TileCutter(slidePath: slide, mask: .tiff(other)) }
    }

    /// A Kaggle RLE gives the same tiles as the mask TIFF it encodes; one that does not fit
    /// the slide is a clear error.
    @Test func anRLEMaskCutsTheSameTiles() throws {
        let folder = try TemporaryDirectory()
        let (slide, mask) = try Self.slide(in: folder)
        let full = try SlideReader(path: mask).readFirstChannel(x: 0, y: 0, width: 512, height: 256)
        let text = RLE.encode(full)
        let fromTIFF = try TileCutter(slidePath: slide, mask: .tiff(mask), tile: 64, scale: 2)
        let fromRLE = try TileCutter(slidePath: slide, mask: .rle(text), tile: 64, scale: 2)
        #expect(fromRLE.tiles == fromTIFF.tiles)
        for tile in fromTIFF.tiles { #expect(try fromRLE.read(x: tile.x, y: tile.y).mask == fromTIFF.read(x: tile.x, y: tile.y).mask) }
        #expect(throws: TesseraError.self) { try TileCutter(slidePath: slide, mask: .rle("1 999999999")) }
    }
}
