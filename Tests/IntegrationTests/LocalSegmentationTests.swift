import Core
import Foundation
import TestSupport
import Testing
import Tiling

@testable import Coordinator
@testable import Engine
@testable import Members
@testable import Segmentation
@testable import Shared

/// Predicts each pixel's red value: the stitched probability map must be the slide's red
/// channel, whatever the window, so any misplaced tile shows.
final class RedChannelModel: TilePredictor {
    var name: String { "red" }
    func predict(_ tile: PixelImage) throws -> [Float] {
        (0..<(tile.width * tile.height)).map { Float(tile.pixels[$0 * 3]) / 255 }
    }
}

@Suite struct LocalSegmentationTests {
    static func slide(_ folder: String, width: Int, height: Int) throws -> SyntheticSlideWriter.Output {
        try SyntheticSlideWriter.write(SyntheticSlide(width: width, height: height, seed: 4), to: folder)
    }

    @Test(arguments: BlendWindow.allCases)
    func probabilitiesReconstructTheSlideUnderEveryWindow(window: BlendWindow) throws {
        let temporary = try TemporaryDirectory()
        let folder = temporary.path
        let slide = try Self.slide(folder, width: 300, height: 170)
        let settings = SegmentationSettings(tileSize: 64, margin: 12, window: window, threshold: 0.5)
        let job = try LocalSegmentation(settings: settings, members: [.init(predictor: RedChannelModel())])
        let summary = try job.run(slidePath: slide.slidePath, maskPath: folder + "/mask.tif", probabilityPath: folder + "/p.tif")
        let red = try SlideReader(path: slide.slidePath).readRGB(x: 0, y: 0, width: 300, height: 170)
        let probabilities = try SlideReader(path: folder + "/p.tif").readFirstChannel(x: 0, y: 0, width: 300, height: 170)
        #expect(probabilities.pixels == (0..<(300 * 170)).map { red.pixels[$0 * 3] })
        let mask = try SlideReader(path: folder + "/mask.tif").readFirstChannel(x: 0, y: 0, width: 300, height: 170)
        #expect(mask.pixels == (0..<(300 * 170)).map { red.pixels[$0 * 3] >= 128 ? 255 : 0 })
        #expect(summary.foregroundPixels == mask.pixels.filter { $0 == 255 }.count)
    }

    @Test func constantMembersAverageByWeight() throws {
        let temporary = try TemporaryDirectory()
        let folder = temporary.path
        let slide = try Self.slide(folder, width: 100, height: 90)
        let members: [LocalSegmentation.Member] = [
            .init(predictor: try ConstantModel(value: 1), weight: 1),
            .init(predictor: try ConstantModel(value: 0), weight: 3),
        ]
        let job = try LocalSegmentation(settings: SegmentationSettings(tileSize: 32, margin: 4, window: .gaussian, threshold: 0.25), members: members)
        let summary = try job.run(slidePath: slide.slidePath, maskPath: folder + "/m.tif", probabilityPath: folder + "/p.tif")
        let p = try SlideReader(path: folder + "/p.tif").readFirstChannel(x: 0, y: 0, width: 100, height: 90)
        #expect(p.pixels.allSatisfy { $0 == 64 })  // 0.25 × 255 = 63.75
        #expect(summary.foregroundPixels == 100 * 90)  // 0.25 ≥ threshold 0.25
    }

    @Test func slidesSmallerThanATileWork() throws {
        let temporary = try TemporaryDirectory()
        let folder = temporary.path
        let slide = try Self.slide(folder, width: 20, height: 7)
        let job = try LocalSegmentation(settings: SegmentationSettings(tileSize: 64, margin: 8), members: [.init(predictor: RedChannelModel())])
        let summary = try job.run(slidePath: slide.slidePath, maskPath: folder + "/m.tif")
        #expect(summary.tiles == 1 && summary.width == 20)
    }

    @Test func theStainBaselineFindsSyntheticGlomeruli() throws {
        let temporary = try TemporaryDirectory()
        let folder = temporary.path
        let slide = try SyntheticSlideWriter.write(SyntheticSlide(width: 1400, height: 800, seed: 3), to: folder)
        let job = try LocalSegmentation(settings: SegmentationSettings(tileSize: 256, margin: 48), members: [.init(predictor: StainModel())])
        _ = try job.run(slidePath: slide.slidePath, maskPath: folder + "/m.tif")
        let dice = try MaskFiles.overlap(folder + "/m.tif", slide.maskPath)
        #expect(dice.countB > 0 && dice.value > 0.7, "Dice \(dice.value)")
    }

    @Test func unknownModelsAreRefused() {
        #expect { try MemberFactory.make(architecture: "effunet-b9", weights: nil) } throws: {
            "\($0)".contains("unknown model architecture")
        }
        #expect(throws: TesseraError.self) { try ConstantModel(value: 2) }
    }
}
