import Core
import Foundation
import TestSupport
import Testing

@testable import Segmentation

/// Stains estimated once for a whole slide, every tile then normalised from them.
@Suite struct SlideStainTests {
    /// Given an image's own estimate as the source, normalising from it is the tile-by-tile
    /// normalisation of that image, byte for byte: the two paths share everything else.
    @Test func anImagesOwnEstimateAsSourceIsTileNormalisation() throws {
        let golden = try StainTests.golden()
        let macenko = MacenkoStain(), reinhard = try ReinhardStain.fitted(to: StainTests.image(golden.reference, golden.size))
        for item in golden.cases {
            let image = StainTests.image(item.input, golden.size)
            if let own = macenko.estimate(image) {
                var source = macenko
                (source.stains, source.maxConcentrations) = (own.stains, own.maxConcentrations)
                #expect(macenko.normalise(image, source: source) == macenko.normalise(image), "\(item.name)")
            }
            let (means, deviations) = ReinhardStain.statistics(ReinhardStain.lab(image))
            #expect(reinhard.normalise(image, source: ReinhardStain(means: means, deviations: deviations)) == reinhard.normalise(image), "\(item.name)")
        }
    }

    /// Another lab's slide, normalised from its own estimate towards a reference fitted the
    /// same way to a slide of ours, has our slide's tissue statistics; tiles with little
    /// tissue are moved exactly as tiles with much.
    @Test func aShiftedSlideIsBroughtToTheReference() throws {
        let folder = try TemporaryDirectory()
        let ours = try SyntheticSlideWriter.write(SyntheticSlide(width: 768, height: 768, seed: 51), to: folder.file("ours")).slidePath
        let theirs = try SyntheticSlideWriter.write(SyntheticSlide(width: 768, height: 768, seed: 52, stainShift: 1.0), to: folder.file("theirs")).slidePath
        let like = StainNormaliser.reinhard(ReinhardStain(means: [0, 0, 0], deviations: [1, 1, 1]))
        guard case .reinhard(let reference)? = try SlideStain.estimate(try SlideReader(path: ours), like: like),
            case .reinhard(let before)? = try SlideStain.estimate(try SlideReader(path: theirs), like: like)
        else {
            Issue.record("no estimate"); return
        }
        let stain = try SlideStain(estimating: try SlideReader(path: theirs), normaliser: .reinhard(reference))
        #expect(try SlideStain(estimating: try SlideReader(path: theirs), normaliser: .reinhard(reference)) == stain)  // deterministic
        // The statistics of the same pixels (their tissue), before and after.
        let sample = try SlideStain.sample(try SlideReader(path: theirs))
        let normalised = stain.normalise(sample)
        let moved = SlideStain.tissueOffsets(sample).flatMap { normalised.pixels[$0..<($0 + 3)] }
        let (after, _) = ReinhardStain.statistics(ReinhardStain.lab(PixelImage(width: moved.count / 3, height: 1, channels: 3, pixels: moved)))
        let gapBefore = zip(before.means, reference.means).map { abs($0 - $1) }.max()!
        let gapAfter = zip(after, reference.means).map { abs($0 - $1) }.max()!
        print("L*a*b* means \(before.means) before, \(after) after, reference \(reference.means)")
        #expect(gapBefore > 5 && gapAfter < gapBefore / 4, "L*a*b* means off by \(gapBefore) before, \(gapAfter) after")
    }

    @Test func glassAloneIsLeftAlone() throws {
        let folder = try TemporaryDirectory()
        let writer = try TiledImageWriter(path: folder.file("glass.tiff"), width: 64, height: 64, channels: 3)
        try writer.append(rows: [UInt8](repeating: 242, count: 64 * 64 * 3))
        try writer.finish()
        let stain = try SlideStain(estimating: try SlideReader(path: folder.file("glass.tiff")), normaliser: .macenko(MacenkoStain()))
        #expect(stain.source == nil)
        let tile = PixelImage(width: 4, height: 4, channels: 3, value: 120)
        #expect(stain.normalise(tile) == tile)
    }
}
