import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Segmentation

@Suite struct TiledImageWriterTests {
    /// Sizes that end mid-tile and mid-band, appended in uneven chunks, read back exactly.
    @Test(arguments: [(1, 1, 1), (70, 50, 3), (33, 100, 1), (300, 17, 3)])
    func roundTripsThroughTheReader(width: Int, height: Int, channels: Int) throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("image.tif")
        let pixels = (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let writer = try TiledImageWriter(path: path, width: width, height: height, channels: channels, tileSize: 16)
        var row = 0
        while row < height {
            let rows = min(height - row, 1 + row % 7)
            try writer.append(rows: Array(pixels[(row * width * channels)..<((row + rows) * width * channels)]))
            row += rows
        }
        try writer.finish()
        let reader = try SlideReader(path: path)
        #expect(reader.width == width && reader.height == height)
        #expect(reader.image.tileSize?.width == 16)
        let back = try reader.readRGB(x: 0, y: 0, width: width, height: height)
        let expected = channels == 3 ? pixels : pixels.flatMap { [$0, $0, $0] }
        #expect(back.pixels == expected)
    }

    /// Tiles of one value throughout are written pre-encoded; they must read back as the
    /// tiles libtiff encodes: here all-0 and all-255 tiles of both channel counts, beside
    /// mixed tiles and edge tiles (whose zero padding makes them mixed).
    @Test(arguments: [1, 3])
    func uniformTilesReadBackExactly(channels: Int) throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("mask.tif")
        let width = 40, height = 36
        let pixels = (0..<(width * height)).flatMap { i -> [UInt8] in
            let x = i % width, y = i / width
            let value: UInt8 = x < 16 ? (y < 16 ? 0 : 255) : x < 32 ? UInt8(truncatingIfNeeded: i &* 37) : 255
            return [UInt8](repeating: value, count: channels)
        }
        let writer = try TiledImageWriter(path: path, width: width, height: height, channels: channels, tileSize: 16, deflateLevel: 1)
        try writer.append(rows: pixels)
        try writer.finish()
        let back = try SlideReader(path: path).readRGB(x: 0, y: 0, width: width, height: height)
        #expect(back.pixels == (channels == 3 ? pixels : pixels.flatMap { [$0, $0, $0] }))
    }

    @Test func bigTIFFCanBeForced() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("big.tif")
        let writer = try TiledImageWriter(path: path, width: 20, height: 20, channels: 1, tileSize: 16, forceBigTIFF: true)
        try writer.append(rows: [UInt8](repeating: 255, count: 400))
        try writer.finish()
        let reader = try SlideReader(path: path)
        #expect(reader.isBigTIFF)
        #expect(reader.image.compressionName == "Deflate")
        #expect(try reader.readFirstChannel(x: 0, y: 0, width: 20, height: 20).pixels.allSatisfy { $0 == 255 })
    }

    @Test func theFileAppearsOnlyWhenFinished() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("mask.tif")
        do {
            let writer = try TiledImageWriter(path: path, width: 40, height: 40, channels: 1, tileSize: 16)
            try writer.append(rows: [UInt8](repeating: 1, count: 40 * 20))
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        // Dropped unfinished: neither the file nor its partial copy is left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        let writer = try TiledImageWriter(path: path, width: 40, height: 40, channels: 1, tileSize: 16)
        try writer.append(rows: [UInt8](repeating: 1, count: 40 * 40))
        try writer.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["mask.tif"])
    }

    @Test func missingOrExtraRowsAreErrors() throws {
        let folder = try TemporaryDirectory()
        let writer = try TiledImageWriter(path: folder.file("short.tif"), width: 4, height: 4, channels: 1, tileSize: 16)
        try writer.append(rows: [UInt8](repeating: 0, count: 8))
        #expect(throws: TesseraError.self) { try writer.finish() }
        #expect(throws: TesseraError.self) { try writer.append(rows: [UInt8](repeating: 0, count: 12)) }
        #expect(throws: TesseraError.self) {
            try TiledImageWriter(path: "/nonexistent-folder/x.tif", width: 4, height: 4, channels: 1)
        }
    }

    /// Windows read row after row share blocks with the next row; a cache kept to a
    /// window row plus a stride decodes each block once, where a small one decodes many
    /// twice.
    @Test func keptBlocksAreDecodedOnce() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("wide.tif")
        let width = 400, height = 200
        let writer = try TiledImageWriter(path: path, width: width, height: height, channels: 3, tileSize: 16)
        try writer.append(rows: (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try writer.finish()
        let plan = try TilePlan(imageWidth: width, imageHeight: height, tileSize: 48, margin: 8, stride: 32)
        func decodes(keeping: Bool) throws -> Int {
            let reader = try SlideReader(path: path, cacheBytes: 4 * 16 * 16 * 3)
            if keeping { reader.keepBlocks(forWidth: width, height: plan.tileSize + plan.stride) }
            for row in 0..<plan.rows {
                for tile in plan.tiles(inRow: row) {
                    let origin = plan.origin(of: tile)
                    _ = try reader.readRGB(x: origin.x, y: origin.y, width: plan.tileSize, height: plan.tileSize)
                }
            }
            return reader.blocksDecoded
        }
        let blocks = 25 * 13
        #expect(try decodes(keeping: true) == blocks)
        #expect(try decodes(keeping: false) > blocks)
    }
}
