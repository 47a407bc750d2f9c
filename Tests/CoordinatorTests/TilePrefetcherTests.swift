@testable import Coordinator
import Core
import Foundation
@testable import Segmentation
@testable import Shared
import TestSupport
import Testing

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
