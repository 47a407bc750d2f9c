import Core
import Testing

@testable import Segmentation
@testable import Training

/// Balanced sampling and the dihedral augmentations.
@Suite struct DatasetTests {
    @Test func tilesAreBinnedByMaskedFractionAndBatchesDrawBinsEqually() throws {
        // 50 empty tiles, 30 with a little mask, 15 with more, 5 mostly mask.
        let fractions =
            [Double](repeating: 0, count: 50) + [Double](repeating: 0.05, count: 30)
            + [Double](repeating: 0.2, count: 15) + [Double](repeating: 0.9, count: 5)
        let sampler = try BalancedSampler(fractions: fractions, seed: 7)
        #expect(sampler.bins.map(\.count) == [50, 30, 15, 5])
        for step in 0..<20 {
            let batch = sampler.batch(step: step, size: 8)
            #expect(batch == sampler.batch(step: step, size: 8))  // a function of the step
            let perBin = sampler.bins.map { bin in batch.filter { bin.contains($0) }.count }
            #expect(perBin == [2, 2, 2, 2], "step \(step): \(perBin)")
            // Any slot on its own gives the same tile: a worker computes only its share.
            #expect((0..<8).map { sampler.tile(step: step, slot: $0) } == batch)
        }
        #expect(sampler.batch(step: 1, size: 8) != sampler.batch(step: 2, size: 8))
        #expect(try BalancedSampler(fractions: fractions, seed: 8).batch(step: 1, size: 8) != sampler.batch(step: 1, size: 8))
    }

    @Test func emptyBinsAreLeftOutAndBadEdgesRefused() throws {
        let sampler = try BalancedSampler(fractions: [0, 0, 0.5], seed: 1)
        #expect(sampler.bins == [[0, 1], [2]])
        #expect(throws: TesseraError.self) { try BalancedSampler(fractions: [0.1], edges: [0.1, 0.5], seed: 1) }
        #expect(throws: TesseraError.self) { try BalancedSampler(fractions: [0.1], edges: [0, 0.5, 0.5], seed: 1) }
        #expect(throws: TesseraError.self) { try BalancedSampler(fractions: [], seed: 1) }
    }

    @Test func theEightTransformsDifferUndoAndAgreeOnPixelsAndMask() {
        let side = 5
        let image = PixelImage(width: side, height: side, channels: 3, pixels: (0..<(side * side * 3)).map { UInt8($0) })
        let mask = PixelImage(width: side, height: side, channels: 1, pixels: stride(from: 0, to: side * side * 3, by: 3).map { UInt8($0) })
        let results = Dihedral.allCases.map { $0.apply(image).pixels }
        #expect(Set(results.map { $0.description }).count == 8)
        for transform in Dihedral.allCases {
            #expect(transform.inverse.apply(transform.apply(image)) == image, "\(transform)")
            let moved = transform.apply(image), movedMask = transform.apply(mask)
            #expect(stride(from: 0, to: moved.pixels.count, by: 3).map { moved.pixels[$0] } == movedMask.pixels)
        }
        // One quarter turn counter-clockwise of [[a, b], [c, d]] is [[b, d], [a, c]].
        let square = PixelImage(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        #expect(Dihedral(turns: 1, flipped: false).apply(square).pixels == [2, 4, 1, 3])
        #expect(Dihedral(turns: 0, flipped: true).apply(square).pixels == [2, 1, 4, 3])
    }

    @Test func randomTransformsAreSeededAndUniform() {
        var a = SplitMix64(seed: 4), b = SplitMix64(seed: 4)
        let drawn = (0..<8000).map { _ in Dihedral.random(&a) }
        #expect(drawn == (0..<8000).map { _ in Dihedral.random(&b) })
        for transform in Dihedral.allCases {
            #expect(abs(drawn.filter { $0 == transform }.count - 1000) < 120)
        }
    }
}
