import Core
import Foundation
@testable import Segmentation
import Testing
import TestSupport

/// Small objects removed and small holes filled, on runs, against a flood fill of pixels.
@Suite struct MaskCleanupTests {
    /// The reference: 4-connected flood fills on a row-major pixel array.
    static func reference(_ mask: [Bool], width: Int, height: Int, minimum: Int, holes: Int) -> [Bool] {
        func components(of value: Bool, in pixels: [Bool]) -> [(pixels: [Int], edge: Bool)] {
            var seen = [Bool](repeating: false, count: pixels.count), out: [(pixels: [Int], edge: Bool)] = []
            for start in pixels.indices where pixels[start] == value && !seen[start] {
                var stack = [start], members: [Int] = [], edge = false
                seen[start] = true
                while let i = stack.popLast() {
                    members.append(i)
                    let x = i % width, y = i / width
                    if x == 0 || y == 0 || x == width - 1 || y == height - 1 { edge = true }
                    for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where (0..<width).contains(nx) && (0..<height).contains(ny) {
                        let j = ny * width + nx
                        if pixels[j] == value && !seen[j] { seen[j] = true; stack.append(j) }
                    }
                }
                out.append((members, edge))
            }
            return out
        }
        var out = mask
        if minimum > 1 { for c in components(of: true, in: out) where c.pixels.count < minimum { for i in c.pixels { out[i] = false } } }
        if holes > 1 { for c in components(of: false, in: out) where !c.edge && c.pixels.count < holes { for i in c.pixels { out[i] = true } } }
        return out
    }

    static func runs(_ mask: [Bool], width: Int, height: Int) -> [RLE.Run] {
        RLE.runs(of: PixelImage(width: width, height: height, channels: 1, pixels: mask.map { $0 ? 255 : 0 }))
    }

    @Test(arguments: [(31, 17, 1), (8, 40, 2), (64, 64, 3), (5, 5, 4), (100, 3, 5)])
    func runsAgreeWithAFloodFill(width: Int, height: Int, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        // Blobs of varied size, some touching, with holes punched in.
        var mask = [Bool](repeating: false, count: width * height)
        for _ in 0..<(width * height / 20 + 1) {
            let cx = Int(random.next() % UInt64(width)), cy = Int(random.next() % UInt64(height)), r = Int(random.next() % 4)
            for y in max(0, cy - r)...min(height - 1, cy + r) { for x in max(0, cx - r)...min(width - 1, cx + r) { mask[y * width + x] = true } }
        }
        for i in mask.indices where random.next() % 9 == 0 { mask[i] = false }
        var changed = 0
        for (minimum, holes) in [(0, 0), (6, 0), (0, 5), (12, 9), (1000, 1000)] {
            let cleanup = MaskCleanup(minimumObjectArea: minimum, holeArea: holes)
            let got = cleanup.apply(Self.runs(mask, width: width, height: height), width: width, height: height)
            if got != Self.runs(mask, width: width, height: height) { changed += 1 }
            let expected = Self.runs(Self.reference(mask, width: width, height: height, minimum: minimum, holes: holes), width: width, height: height)
            #expect(got == expected, "\(width)×\(height), objects ≥ \(minimum), holes ≥ \(holes)")
        }
        #expect(changed >= (width * height >= 100 ? 2 : 1))
    }

    /// Marks bright pixels: many objects of every size, with holes.
    final class Bright: TilePredictor {
        let name = "bright"
        func predict(_ tile: PixelImage) throws -> [Float] {
            stride(from: 0, to: tile.pixels.count, by: 3).map { tile.pixels[$0 + 1] > 200 ? 1 : 0 }
        }
    }

    /// `infer`'s mask file, its runs and the cleanup of the uncleaned runs all agree.
    @Test func theWrittenMaskIsTheCleanedOne() throws {
        let folder = try TemporaryDirectory()
        let slide = try SyntheticSlideWriter.write(SyntheticSlide(width: 700, height: 500, seed: 8), to: folder.path).slidePath
        func run(_ cleanup: MaskCleanup, _ name: String) throws -> LocalSegmentation.Summary {
            let settings = SegmentationSettings(tileSize: 128, margin: 16, cleanup: cleanup)
            return try LocalSegmentation(settings: settings, members: [.init(predictor: Bright())]).run(slidePath: slide, maskPath: folder.path + "/" + name)
        }
        let cleanup = MaskCleanup(minimumObjectArea: 50, holeArea: 40)
        let raw = try run(MaskCleanup(), "raw.tiff"), cleaned = try run(cleanup, "clean.tiff")
        #expect(cleaned.runs == cleanup.apply(raw.runs, width: 700, height: 500))
        #expect(cleaned.runs != raw.runs)
        #expect(try MaskFiles.runs(ofMaskAt: folder.path + "/clean.tiff").runs == cleaned.runs)
        #expect(cleaned.foregroundPixels == cleaned.runs.reduce(0) { $0 + $1.length })
    }
}
