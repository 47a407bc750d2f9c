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
