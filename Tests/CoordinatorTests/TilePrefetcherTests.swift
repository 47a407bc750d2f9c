import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Coordinator
@testable import Segmentation
@testable import Shared

@Suite struct TilePrefetcherTests {
    /// Every reader count hands out the same tiles, in plan order, as reading them one by
    /// one does: bands of columns change who decodes, never what is sent.
    @Test(arguments: [1, 2, 3, 7, 40])
    func readersHandOutThePlanInOrder(readers: Int) throws {
        let temporary = try TemporaryDirectory()
        let folder = temporary.path
        let slide = try SyntheticSlideWriter.write(SyntheticSlide(width: 700, height: 300, seed: 5), to: folder).slidePath
        let plan = try TilePlan(imageWidth: 700, imageHeight: 300, tileSize: 96, margin: 16, stride: 64)
        let reference = try SlideReader(path: slide)
        let first = 5
        let prefetcher = TilePrefetcher(slidePath: slide, plan: plan, first: first, depth: 4, readers: readers)
        defer { prefetcher.stop() }
        var expected = first
        let deadline = Date().addingTimeInterval(60)
        while expected < plan.tileCount, Date() < deadline {
            guard let tile = try prefetcher.next() else { usleep(1000); continue }
            #expect(tile.index == expected)
            let origin = plan.origin(of: TileIndex(row: tile.index / plan.columns, column: tile.index % plan.columns))
            #expect(tile.pixels == (try reference.readRGB(x: origin.x, y: origin.y, width: 96, height: 96).pixels), "tile \(tile.index)")
            expected += 1
        }
        #expect(expected == plan.tileCount)
        #expect(try prefetcher.next() == nil)
    }

    /// Tiles asked for again come back with the same pixels, whether the readers are busy
    /// with their bands (full, waiting to be taken) or done with them.
    @Test(arguments: [1, 3])
    func tilesAreReadAgainOnRequest(readers: Int) throws {
        let temporary = try TemporaryDirectory()
        let slide = try SyntheticSlideWriter.write(SyntheticSlide(width: 500, height: 300, seed: 6), to: temporary.path).slidePath
        let plan = try TilePlan(imageWidth: 500, imageHeight: 300, tileSize: 96, margin: 16, stride: 64)
        let reference = try SlideReader(path: slide)
        let prefetcher = TilePrefetcher(slidePath: slide, plan: plan, depth: 4, readers: readers)
        defer { prefetcher.stop() }
        func rereadAndCheck(_ tiles: [TileIndex]) throws {
            for tile in tiles { prefetcher.reread(tile) }
            var got: [TileIndex: [UInt8]] = [:]
            let deadline = Date().addingTimeInterval(30)
            while got.count < tiles.count, Date() < deadline {
                for (tile, pixels) in try prefetcher.takeRereads() { got[tile] = pixels }
                usleep(1000)
            }
            for tile in tiles { #expect(got[tile] == (try reference.readTile(tile, of: plan).pixels), "tile \(tile)") }
        }
        // Readers full and waiting: nothing taken yet.
        usleep(50_000)
        try rereadAndCheck([TileIndex(row: 3, column: 7), TileIndex(row: 0, column: 0)])
        // Every tile taken: the readers are past their bands.
        var taken = 0
        let deadline = Date().addingTimeInterval(30)
        while taken < plan.tileCount, Date() < deadline { if try prefetcher.next() != nil { taken += 1 } else { usleep(1000) } }
        try rereadAndCheck([TileIndex(row: 2, column: 1)])
    }

    @Test func aSlideThatCannotBeReadFailsTheTiles() throws {
        let plan = try TilePlan(imageWidth: 300, imageHeight: 300, tileSize: 96, margin: 16, stride: 64)
        let prefetcher = TilePrefetcher(slidePath: "/nonexistent/slide.tiff", plan: plan, readers: 2)
        defer { prefetcher.stop() }
        let deadline = Date().addingTimeInterval(10)
        var failure: Error?
        while failure == nil, Date() < deadline {
            do { _ = try prefetcher.next() } catch { failure = error }
            usleep(1000)
        }
        #expect("\(failure.map { "\($0)" } ?? "none")".contains("cannot open"))
    }
}
