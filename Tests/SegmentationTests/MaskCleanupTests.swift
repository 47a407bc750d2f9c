import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Segmentation

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

/// Objects as polygons with holes, rasterised back to the same mask.
@Suite struct MaskPolygonsTests {
    /// Pixel centres inside an odd number of rings (every ring of every polygon).
    static func rasterise(_ polygons: [MaskPolygons.Polygon], width: Int, height: Int) -> [Bool] {
        var inside = [Bool](repeating: false, count: width * height)
        for ring in polygons.flatMap(\.rings) {
            for (a, b) in zip(ring, ring.dropFirst()) where a.x == b.x && a.y != b.y {
                // A vertical edge at x flips every pixel centre to its right on its rows.
                for y in min(a.y, b.y)..<max(a.y, b.y) { for x in a.x..<width { inside[y * width + x].toggle() } }
            }
        }
        return inside
    }

    @Test(arguments: [(31, 17, 1), (8, 40, 2), (64, 64, 3), (5, 5, 4), (100, 3, 5), (20, 20, 6)])
    func polygonsRasteriseToTheMask(width: Int, height: Int, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var mask = [Bool](repeating: false, count: width * height)
        for _ in 0..<(width * height / 20 + 1) {
            let cx = Int(random.next() % UInt64(width)), cy = Int(random.next() % UInt64(height)), r = Int(random.next() % 4)
            for y in max(0, cy - r)...min(height - 1, cy + r) { for x in max(0, cx - r)...min(width - 1, cx + r) { mask[y * width + x] = true } }
        }
        // Holes, and pixels that touch others only at a corner.
        for i in mask.indices where random.next() % 7 == 0 { mask[i].toggle() }
        let runs = MaskCleanupTests.runs(mask, width: width, height: height)
        let polygons = MaskPolygons.polygons(runs, width: width, height: height)
        #expect(Self.rasterise(polygons, width: width, height: height) == mask)
        let (_, areas, _) = MaskCleanup.label(MaskCleanup.segments(of: runs, height: height), width: width, height: height)
        #expect(polygons.count == areas.count)
        #expect(polygons.map(\.area).reduce(0, +) == mask.filter { $0 }.count)
        for polygon in polygons {
            // One outer ring (positive area), then holes (negative), every ring closed.
            #expect(MaskPolygons.shoelace(polygon.rings[0]) > 0)
            #expect(polygon.rings.dropFirst().allSatisfy { MaskPolygons.shoelace($0) < 0 })
            #expect(polygon.rings.allSatisfy { $0.first!.x == $0.last!.x && $0.first!.y == $0.last!.y && $0.count >= 5 })
        }
    }

    /// The file as written (QuPath's annotation features) rasterises to the mask too.
    @Test func theGeoJSONFileRoundTrips() throws {
        let folder = try TemporaryDirectory()
        var random = SplitMix64(seed: 9)
        let (width, height) = (37, 23)
        var mask = (0..<(width * height)).map { _ in random.next() % 3 == 0 }
        for y in 5..<15 { for x in 5..<20 { mask[y * width + x] = !(x == 10 && y == 9) } }
        let polygons = MaskPolygons.polygons(MaskCleanupTests.runs(mask, width: width, height: height), width: width, height: height)
        let path = folder.path + "/m.geojson"
        try MaskPolygons.writeGeoJSON(polygons, classification: "Glomerulus", to: path)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        #expect(json["type"] as? String == "FeatureCollection")
        let read = (json["features"] as! [[String: Any]]).map { feature -> MaskPolygons.Polygon in
            let properties = feature["properties"] as! [String: Any]
            #expect((properties["classification"] as? [String: Any])?["name"] as? String == "Glomerulus")
            let coordinates = (feature["geometry"] as! [String: Any])["coordinates"] as! [[[Int]]]
            return MaskPolygons.Polygon(rings: coordinates.map { $0.map { (x: $0[0], y: $0[1]) } }, area: properties["area"] as! Int)
        }
        #expect(read.contains { $0.rings.count > 1 })
        #expect(Self.rasterise(read, width: width, height: height) == mask)
    }

    @Test func aSquareWithAHole() throws {
        // 4×4 square at (1, 1) with the pixel (2, 2) empty, in a 6×6 mask.
        var mask = [Bool](repeating: false, count: 36)
        for y in 1...4 { for x in 1...4 where !(x == 2 && y == 2) { mask[y * 6 + x] = true } }
        let polygons = MaskPolygons.polygons(MaskCleanupTests.runs(mask, width: 6, height: 6), width: 6, height: 6)
        #expect(polygons.count == 1 && polygons[0].rings.count == 2 && polygons[0].area == 15)
        #expect(polygons[0].rings[0].map { [$0.x, $0.y] }.count == 5 && polygons[0].rings[1].count == 5)
    }
}
