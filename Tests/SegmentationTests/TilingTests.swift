import Core
import Testing
import Tiling

@testable import Segmentation

@Suite struct TilingTests {
    /// Every pixel is inside some tile's centre, for sizes around the tile's.
    @Test(arguments: [1, 2, 63, 64, 65, 200, 333])
    func centresCoverEveryPixel(length: Int) throws {
        for (tile, margin, stride) in [(64, 16, nil), (64, 0, nil), (64, 16, 20), (31, 7, 1)] as [(Int, Int, Int?)] {
            let plan = try TilePlan(imageWidth: length, imageHeight: 5, tileSize: tile, margin: margin, stride: stride)
            var covered = [Bool](repeating: false, count: length)
            for column in 0..<plan.columns {
                let x = plan.origin(of: TileIndex(row: 0, column: column)).x
                for i in (x + margin)..<(x + tile - margin) where (0..<length).contains(i) { covered[i] = true }
            }
            #expect(covered.allSatisfy { $0 }, "length \(length) tile \(tile) margin \(margin)")
            // And no tile is wasted: the last one's centre starts inside the image.
            #expect(plan.origin(of: TileIndex(row: 0, column: plan.columns - 1)).x + margin < length)
        }
    }

    @Test func badGeometryIsRefused() {
        #expect(throws: TesseraError.self) { try TilePlan(imageWidth: 10, imageHeight: 10, tileSize: 64, margin: 32) }
        #expect(throws: TesseraError.self) { try TilePlan(imageWidth: 10, imageHeight: 10, tileSize: 64, margin: 8, stride: 49) }
        #expect(throws: TesseraError.self) { try TilePlan(imageWidth: 0, imageHeight: 10, tileSize: 64, margin: 8) }
    }

    @Test func gaussianIsCentredAndSymmetricForEvenSizes() {
        let w = BlendWindow.gaussian.weights(tileSize: 512, margin: 64)
        #expect(w == Array(w.reversed()))
        #expect(w[255] == BlendWindow.scale && w[256] == BlendWindow.scale)
        #expect(w[0] >= 1 && w[0] < 10)  // exp(-8) of the peak: sigma = T/8
        let odd = BlendWindow.gaussian.weights(tileSize: 9, margin: 2)
        #expect(odd == Array(odd.reversed()) && odd[4] == BlendWindow.scale)
    }

    @Test func linearRampsSumToOneAcrossTheOverlap() {
        let tile = 64, margin = 8, stride = tile - 2 * margin
        let w = BlendWindow.linear.weights(tileSize: tile, margin: margin)
        for i in stride..<tile { #expect(abs(w[i] + w[i - stride] - BlendWindow.scale) <= 1) }
    }

    @Test func constantCropKeepsOnlyTheCentre() {
        let w = BlendWindow.constantCrop.weights(tileSize: 16, margin: 4)
        #expect(w == [0, 0, 0, 0] + Array(repeating: BlendWindow.scale, count: 8) + [0, 0, 0, 0])
    }
}
