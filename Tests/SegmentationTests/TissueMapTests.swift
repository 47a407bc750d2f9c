import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Segmentation

/// Tiles over glass alone are not predicted, and nothing changes where there is tissue.
@Suite struct TissueMapTests {
    /// Predicts brightness, which is far from 0 on glass too: any skipped tile that should
    /// not have been would show.
    final class Brightness: TilePredictor {
        let name = "brightness"
        func predict(_ tile: PixelImage) throws -> [Float] {
            stride(from: 0, to: tile.pixels.count, by: 3).map { i in
                Float(Int(tile.pixels[i]) + Int(tile.pixels[i + 1]) + Int(tile.pixels[i + 2])) / 765
            }
        }
    }

    static func segment(
        _ slide: String, folder: String, window: BlendWindow, tissue: TissueDetection.Method
    ) throws
        -> (summary: LocalSegmentation.Summary, probabilities: [UInt8], mask: [UInt8])
    {
        let settings = SegmentationSettings(tileSize: 128, margin: 16, window: window, tissue: TissueDetection(method: tissue))
        let job = try LocalSegmentation(settings: settings, members: [.init(predictor: Brightness())])
        let mask = folder + "/mask-\(tissue)-\(window).tiff", probabilities = folder + "/p-\(tissue)-\(window).tiff"
        let summary = try job.run(slidePath: slide, maskPath: mask, probabilityPath: probabilities)
        func pixels(_ path: String) throws -> [UInt8] {
            let reader = try SlideReader(path: path)
            return try reader.readFirstChannel(x: 0, y: 0, width: reader.width, height: reader.height).pixels
        }
        return (summary, try pixels(probabilities), try pixels(mask))
    }

    @Test(arguments: [BlendWindow.constantCrop, .linear])
    func theMaskIsUnchangedWhereThereIsTissue(window: BlendWindow) throws {
        let folder = try TemporaryDirectory()
        let synthetic = SyntheticSlide(width: 1536, height: 1536, seed: 21, glass: 0.5)
        let slide = try SyntheticSlideWriter.write(synthetic, to: folder.path).slidePath
        let all = try Self.segment(slide, folder: folder.path, window: window, tissue: .off)
        let detected = try Self.segment(slide, folder: folder.path, window: window, tissue: .saturation)
        #expect(all.summary.skipped == 0)
        #expect(
            detected.summary.skipped > detected.summary.tiles / 4 && detected.summary.skipped < detected.summary.tiles,
            "\(detected.summary.skipped) of \(detected.summary.tiles)")
        // Wherever the synthetic section is tissue (density ≥ 0.5, where glomeruli can be)
        // and wherever the thumbnail says tissue, probabilities and mask are the same bits.
        let map = try TissueMap.detect(try SlideReader(path: slide), TissueDetection(method: .saturation))!
        var tissuePixels = 0, glassDiffering = 0
        for y in 0..<1536 {
            for x in 0..<1536 {
                let i = y * 1536 + x
                let known = synthetic.tissue(Double(x) + 0.5, Double(y) + 0.5) >= 0.5
                let thumbnail = map.tissue[(y / map.scale) * map.width + x / map.scale]
                if known || thumbnail {
                    tissuePixels += 1
                    guard all.probabilities[i] == detected.probabilities[i], all.mask[i] == detected.mask[i] else {
                        Issue.record("pixel (\(x), \(y)) of tissue changed: \(all.probabilities[i]) → \(detected.probabilities[i])")
                        return
                    }
                } else if all.probabilities[i] != detected.probabilities[i] {
                    glassDiffering += 1
                }
            }
        }
        #expect(tissuePixels > 1536 * 1536 / 4)
        // Glass in skipped tiles is 0 instead of its brightness: the test would see a wrong skip.
        #expect(glassDiffering > 0)
    }

    /// `detect` gives what the per-pixel definition gives: s = (max − min) · 255 / max,
    /// rounded down, per pixel; a block's stained fraction and mean over its pixels; on one
    /// thread or several.
    @Test(arguments: [TissueDetection.Method.saturation, .otsu])
    func detectionFollowsThePerPixelDefinition(method: TissueDetection.Method) throws {
        let folder = try TemporaryDirectory()
        let slide = try SyntheticSlideWriter.write(SyntheticSlide(width: 1500, height: 1100, seed: 21, glass: 0.5), to: folder.path).slidePath
        let reader = try SlideReader(path: slide)
        let pixels = try reader.readRGB(x: 0, y: 0, width: 1500, height: 1100).pixels
        for (threshold, scale) in [(20.0 / 255, 32), (20.0 / 255, 1), (0.3, 1), (0.0, 7), (0.3, 64), (1.0, 32)] {
            let detection = TissueDetection(method: method, saturation: threshold, scale: scale, margin: 0)
            let width = (1500 + scale - 1) / scale, height = (1100 + scale - 1) / scale
            var stained = [Int](repeating: 0, count: width * height), total = stained, count = stained
            for y in 0..<1100 {
                for x in 0..<1500 {
                    let i = 3 * (y * 1500 + x), block = (y / scale) * width + x / scale
                    let s = TissueMap.saturation(Int(pixels[i]), Int(pixels[i + 1]), Int(pixels[i + 2]))
                    stained[block] += s > Int((threshold * 255).rounded()) ? 1 : 0
                    total[block] += s
                    count[block] += 1
                }
            }
            let expected: [Bool]
            if method == .otsu {
                let means = (0..<(width * height)).map { Double(total[$0]) / Double(count[$0]) / 255 }
                let cut = TissueMap.otsu(means)
                expected = means.map { $0 > cut }
            } else {
                expected = (0..<(width * height)).map { Double(stained[$0]) / Double(count[$0]) >= 0.01 }
            }
            for threads in [1, 3] {  // bands shared among threads: the same map
                let map = try #require(try TissueMap.detect(reader, detection, threads: threads))
                #expect(map.tissue == expected, "threshold \(threshold), scale \(scale), \(threads) threads")
            }
            if scale == 32 && threshold < 0.5 {  // the defaults: a slide half glass has both kinds
                #expect(expected.contains(true) && expected.contains(false))
            }
        }
    }

    /// Block by pixel, over every (max, min) pair in every channel order: the stained test
    /// agrees with the definition at each threshold, boundaries included.
    @Test func everyPixelPairIsTestedAsDefined() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("pairs.tiff")
        var pixels = [UInt8](repeating: 0, count: 256 * 256 * 3)
        for high in 0..<256 {
            for low in 0..<256 {
                let channels = [high, min(low, high), (high + min(low, high)) / 2], rotation = (high + low) % 3
                for c in 0..<3 { pixels[3 * (high * 256 + low) + c] = UInt8(channels[(c + rotation) % 3]) }
            }
        }
        let writer = try TiledImageWriter(path: path, width: 256, height: 256, channels: 3)
        try writer.append(rows: pixels)
        try writer.finish()
        let reader = try SlideReader(path: path)
        for limit in [0, 1, 20, 77, 128, 254, 255] {
            let detection = TissueDetection(method: .saturation, saturation: Double(limit) / 255, scale: 1, margin: 0)
            let map = try #require(try TissueMap.detect(reader, detection))
            let expected = (0..<(256 * 256)).map { i in
                TissueMap.saturation(Int(pixels[3 * i]), Int(pixels[3 * i + 1]), Int(pixels[3 * i + 2])) > limit
            }
            let wrong = (0..<(256 * 256)).filter { map.tissue[$0] != expected[$0] }
            #expect(wrong.isEmpty, "limit \(limit): \(wrong.count) pixels, the first (max, min) \(wrong.first.map { ($0 / 256, $0 % 256) } as Any)")
        }
    }

    /// A white slide whose 32-pixel blocks hold 0 (most), 10 or 11 stained pixels (11 of 1,024 is
    /// tissue, 10 is not), half of them on the blocks' edges: a pixel read from the wrong
    /// place changes verdicts.
    static func knifeEdgeSlide(width: Int, height: Int, in folder: TemporaryDirectory) throws -> String {
        var pixels = [UInt8](repeating: 250, count: width * height * 3)
        var random = SplitMix64(seed: 7)
        for by in 0..<((height + 31) / 32) {
            for bx in 0..<((width + 31) / 32) {
                let (w, h) = (min(32, width - bx * 32), min(32, height - by * 32))
                for n in 0..<[0, 0, 0, 0, 0, 10, 11][Int(random.next() % 7)] {
                    let edge = n % 2 == 0, vertical = random.next() % 2 == 0
                    var (x, y) = (Int(random.next() % UInt64(w)), Int(random.next() % UInt64(h)))
                    if edge && vertical { x = random.next() % 2 == 0 ? 0 : w - 1 } else if edge { y = random.next() % 2 == 0 ? 0 : h - 1 }
                    let i = 3 * ((by * 32 + y) * width + bx * 32 + x)
                    (pixels[i], pixels[i + 1], pixels[i + 2]) = (200, 60, 120)
                }
            }
        }
        let path = folder.file("knife-edge.tiff")
        let writer = try TiledImageWriter(path: path, width: width, height: height, channels: 3)
        try writer.append(rows: pixels)
        try writer.finish()
        return path
    }

    /// Tiles judged as they are read skip exactly the tiles a pass over the whole slide
    /// lists, whatever the geometry, the order tiles are asked in, and how many probes
    /// (reading threads) share the slide.
    @Test func theProbeSkipsWhatTheMapLists() throws {
        let folder = try TemporaryDirectory()
        let synthetic = try SyntheticSlideWriter.write(SyntheticSlide(width: 1500, height: 1100, seed: 21, glass: 0.5), to: folder.path).slidePath
        let knifeEdge = try Self.knifeEdgeSlide(width: 700, height: 500, in: folder)
        let cases: [(slide: String, tileSize: Int, margin: Int, scale: Int, blockMargin: Int, threshold: Double)] = [
            (synthetic, 512, 64, 32, 1, 20.0 / 255), (synthetic, 128, 16, 32, 1, 20.0 / 255), (synthetic, 100, 10, 32, 2, 20.0 / 255),
            (synthetic, 256, 0, 7, 0, 0.3), (synthetic, 64, 8, 64, 1, 0.1), (knifeEdge, 64, 8, 32, 0, 20.0 / 255),
            (knifeEdge, 100, 18, 32, 0, 20.0 / 255),
        ]
        for (slide, tileSize, margin, scale, blockMargin, threshold) in cases {
            let reader = try SlideReader(path: slide)
            let plan = try TilePlan(imageWidth: reader.width, imageHeight: reader.height, tileSize: tileSize, margin: margin)
            let detection = TissueDetection(method: .saturation, saturation: threshold, scale: scale, margin: blockMargin)
            let listed = try #require(try TissueMap.detect(reader, detection)).skipped(in: plan)
            let probe = try #require(TissueProbe(detection, slideWidth: reader.width, slideHeight: reader.height))
            let name = slide == knifeEdge ? "knife-edge" : "synthetic"
            let label = "\(name) slide, tile \(tileSize), margin \(margin), scale \(scale), block margin \(blockMargin)"
            // One probe in plan order, given each tile's pixels; one in reverse, without;
            // two sharing the columns in bands, through the filter readers use.
            var forward = probe, backward = probe
            let index = { (tile: TileIndex) in tile.row * plan.columns + tile.column }
            let inOrder = Set(
                try plan.tiles.filter { try forward.isGlass($0, of: plan, pixels: try reader.readTile($0, of: plan), in: reader) }.map(index))
            let reversed = Set(try plan.tiles.reversed().filter { try backward.isGlass($0, of: plan, pixels: nil, in: reader) }.map(index))
            var bands = [TissueFilter.probed(probe), .probed(probe)]
            let banded = Set(try plan.tiles.filter { try bands[2 * $0.column / plan.columns].read($0, of: plan, from: reader) == nil }.map(index))
            for (order, found) in [("in order", inOrder), ("reversed", reversed), ("banded", banded)] {
                #expect(found.symmetricDifference(listed).isEmpty, "\(label), \(order): tiles \(found.symmetricDifference(listed).sorted()) differ")
            }
            #expect(!listed.isEmpty && listed.count < plan.tileCount, "\(label): \(listed.count) of \(plan.tileCount)")
        }
        #expect(TissueProbe(TissueDetection(method: .otsu), slideWidth: 1500, slideHeight: 1100) == nil)
    }

    @Test func otsuSplitsTwoPopulations() {
        let glass: [Double] = (0..<60).map { 0.02 + Double($0 % 5) * 0.002 }
        let tissue: [Double] = (0..<40).map { 0.4 + Double($0 % 7) * 0.01 }
        let values = glass + tissue
        let threshold = TissueMap.otsu(values)
        #expect(threshold > 0.03 && threshold < 0.4, "\(threshold)")
    }

    @Test func aTileSeesEveryBlockItOverlaps() throws {
        // One block of tissue at block (3, 2), scale 32: slide pixels 96…127 × 64…95.
        var flags = [Bool](repeating: false, count: 10 * 10)
        flags[2 * 10 + 3] = true
        let map = TissueMap(scale: 32, width: 10, height: 10, tissue: flags)
        let plan = try TilePlan(imageWidth: 320, imageHeight: 320, tileSize: 64, margin: 8)
        let seen = plan.tiles.filter { map.hasTissue($0, of: plan) }
        // Tiles of 64 pixels from (c·48 − 8, r·48 − 8): those reaching x 96…127 and y 64…95.
        for tile in plan.tiles {
            let (x, y) = plan.origin(of: tile)
            let overlaps = x + 63 >= 96 && x <= 127 && y + 63 >= 64 && y <= 95
            #expect(seen.contains(tile) == overlaps, "\(tile)")
        }
        #expect(TissueMap.grow(flags, width: 10, height: 10, by: 1).filter { $0 }.count == 9)
    }
}
