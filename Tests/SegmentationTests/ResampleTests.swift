import Core
import Foundation
import Testing

@testable import Segmentation
@testable import Tiling

/// Tiles brought to a member's pixel size and maps back: exact area averages down,
/// PyTorch's bilinear up.
@Suite struct ResampleTests {
    static func noise(_ side: Int, channels: Int = 3, seed: UInt64 = 1) -> PixelImage {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        let pixels = (0..<(side * side * channels)).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        return PixelImage(width: side, height: side, channels: channels, pixels: pixels)
    }

    /// A member trained with `tessera train --scale 2` sees tiles shrunk exactly as its
    /// training tiles were: each 2 × 2 block averaged, rounded half up.
    @Test func aWholeFactorIsTheTrainingShrink() {
        let image = Self.noise(64)
        let shrunk = Resample.pixels(image, to: 32)
        for y in 0..<32 {
            for x in 0..<32 {
                for c in 0..<3 {
                    var sum = 0
                    for dy in 0..<2 { for dx in 0..<2 { sum += Int(image.pixels[((2 * y + dy) * 64 + 2 * x + dx) * 3 + c]) } }
                    #expect(Int(shrunk.pixels[(y * 32 + x) * 3 + c]) == (sum + 2) / 4)
                }
            }
        }
    }

    /// Any ratio: the average over the exact area each target pixel covers, checked against
    /// the same average over a grid fine enough that every boundary falls on it.
    @Test(arguments: [(10, 3), (17, 8), (61, 32), (7, 6)])
    func anyRatioIsTheExactAreaAverage(n: Int, side: Int) {
        let image = Self.noise(n, channels: 1, seed: UInt64(n * side))
        let shrunk = Resample.pixels(image, to: side)
        // Each source pixel is side × side cells of a grid of n·side; target j covers cells j·n ..< (j+1)·n.
        for y in 0..<side {
            for x in 0..<side {
                var sum = 0
                for cy in (y * n)..<((y + 1) * n) {
                    for cx in (x * n)..<((x + 1) * n) { sum += Int(image.pixels[(cy / side) * n + cx / side]) }
                }
                let expected = (2 * sum + n * n) / (2 * n * n)  // rounded half up
                guard Int(shrunk.pixels[y * side + x]) == expected else {
                    Issue.record("\(n) → \(side): (\(x), \(y)) is \(shrunk.pixels[y * side + x]), not \(expected)")
                    return
                }
            }
        }
    }

    /// tools/make_resample_goldens.py: PyTorch's interpolate on the same maps.
    @Test func mapsMatchPyTorch() {
        let source: [Float] = [0.0, 0.25, 1.0, 0.5, 0.75, 0.125, 1.0, 0.0, 0.5]
        let grown: [Float] = [
            0.0, 0.0357143, 0.1428571, 0.25, 0.5714286, 0.8928572, 1.0, 0.0714286, 0.1071429, 0.2142857, 0.3214286,
            0.5586735, 0.7959184, 0.8750001, 0.2857143, 0.3214286, 0.4285715, 0.5357143, 0.5204082, 0.505102, 0.5, 0.5,
            0.5357143, 0.6428572, 0.75, 0.4821428, 0.2142857, 0.125, 0.7142857, 0.6734694, 0.5510204, 0.4285714, 0.3673469,
            0.3061225, 0.2857143, 0.9285715, 0.8112245, 0.4591836, 0.1071428, 0.252551, 0.3979592, 0.4464286, 1.0, 0.8571429,
            0.4285714, 0.0, 0.2142857, 0.4285715, 0.5,
        ]
        for (a, b) in zip(Resample.map(source, from: 3, to: 7), grown) { #expect(abs(a - b) < 1e-6) }
        let ramp = (0..<36).map { Float($0) / 35 }
        for (a, b) in zip(Resample.map(ramp, from: 6, to: 2), [0.2, 0.2857143, 0.7142858, 0.8] as [Float]) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func growingPixelsKeepsConstantsAndEdges() {
        let flat = PixelImage(width: 5, height: 5, channels: 3, value: 77)
        #expect(Resample.pixels(flat, to: 13).pixels.allSatisfy { $0 == 77 })
        let image = Self.noise(8)
        #expect(Resample.pixels(image, to: 8) == image)
        // Bilinear with half-pixel centres: every output lies between its source neighbours' extremes.
        let grown = Resample.pixels(image, to: 20)
        #expect(grown.width == 20 && grown.pixels.count == 20 * 20 * 3)
    }

    /// The model's side: the covered length over the member's pixel size, rounded to what it takes.
    @Test func theModelSideFollowsPixelSizes() throws {
        final class Strided: TilePredictor {
            let name = "strided"
            var tileMultiple: Int { 32 }
            func predict(_ tile: PixelImage) throws -> [Float] { [Float](repeating: 0, count: tile.width * tile.height) }
        }
        let model = Strided()
        // 1024 pixels at 0.499 µm for a member at 1 µm: 511 → 512.
        let down = try TileScale.member(pixelSize: 1.0, tilePixelSize: 0.499, inputSide: 1024, mapSide: 1024, predictor: model, member: "m")
        #expect(down == TileScale(inputSide: 1024, modelSide: 512, mapSide: 1024))
        // Read from the 2× level: 512 pixels at 0.998 µm, the same model side.
        let level = try TileScale.member(pixelSize: 1.0, tilePixelSize: 0.998, inputSide: 512, mapSide: 1024, predictor: model, member: "m")
        #expect(level.modelSide == 512)
        // A member finer than the slide grows the tile.
        let up = try TileScale.member(pixelSize: 0.25, tilePixelSize: 0.5, inputSide: 256, mapSide: 256, predictor: model, member: "m")
        #expect(up.modelSide == 512)
        #expect(try TileScale.member(pixelSize: nil, tilePixelSize: nil, inputSide: 256, mapSide: 256, predictor: model, member: "m").isNative)
        #expect(throws: TesseraError.self) {
            try TileScale.member(pixelSize: 1.0, tilePixelSize: nil, inputSide: 256, mapSide: 256, predictor: model, member: "m")
        }
        #expect(throws: TesseraError.self) {
            try TileScale.member(pixelSize: nil, tilePixelSize: 1.0, inputSide: 128, mapSide: 256, predictor: model, member: "m")
        }
        #expect(throws: TesseraError.self) {
            try TileScale.member(pixelSize: 0.1, tilePixelSize: 1.0, inputSide: 1024, mapSide: 1024, predictor: model, member: "m")
        }
    }
}
