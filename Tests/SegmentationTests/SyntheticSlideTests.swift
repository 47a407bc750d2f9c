import Core
import TestSupport
import Testing
import Tiling

@testable import Segmentation

@Suite struct SyntheticSlideTests {
    @Test func theSameSeedGivesTheSameSlideAndBandsAreIndependent() {
        let slide = SyntheticSlide(width: 700, height: 300, seed: 5)
        let whole = slide.render(firstRow: 0, rows: 300)
        let again = SyntheticSlide(width: 700, height: 300, seed: 5).render(firstRow: 100, rows: 50)
        #expect(Array(whole.rgb[(100 * 700 * 3)..<(150 * 700 * 3)]) == again.rgb)
        #expect(Array(whole.mask[(100 * 700)..<(150 * 700)]) == again.mask)
        #expect(SyntheticSlide(width: 700, height: 300, seed: 6).render(firstRow: 0, rows: 300).rgb != whole.rgb)
    }

    @Test func theMaskIsExactlyTheGlomeruli() {
        let slide = SyntheticSlide(width: 1300, height: 700, seed: 2)
        let (rgb, mask) = slide.render(firstRow: 0, rows: 700)
        var inMask = 0
        for y in stride(from: 0, to: 700, by: 3) {
            for x in stride(from: 0, to: 1300, by: 3) {
                #expect((mask[y * 1300 + x] == 255) == slide.isGlomerulus(x: x, y: y))
                if mask[y * 1300 + x] == 255 { inMask += 1 }
            }
        }
        #expect(inMask > 1000, "the slide should hold glomeruli")
        // Glomerular pixels are on average more purple (less green) than the rest.
        var green = (inside: 0.0, insideCount: 0.0, outside: 0.0, outsideCount: 0.0)
        for i in 0..<(1300 * 700) {
            if mask[i] == 255 {
                green.inside += Double(rgb[i * 3 + 1]); green.insideCount += 1
            } else {
                green.outside += Double(rgb[i * 3 + 1]); green.outsideCount += 1
            }
        }
        #expect(green.inside / green.insideCount + 40 < green.outside / green.outsideCount)
    }

    @Test func writerProducesSlideMaskAndAMatchingTrainRow() throws {
        let folder = try TemporaryDirectory()
        let output = try SyntheticSlideWriter.write(SyntheticSlide(width: 600, height: 520, seed: 9), to: folder.path)
        let slide = try SlideReader(path: output.slidePath)
        #expect(slide.width == 600 && slide.height == 520)
        #expect(abs((slide.image.micronsPerPixel ?? 0) - 0.5) < 1e-3)
        let rendered = SyntheticSlide(width: 600, height: 520, seed: 9).render(firstRow: 0, rows: 520)
        #expect(try slide.readRGB(x: 0, y: 0, width: 600, height: 520).pixels == rendered.rgb)
        let records = try TrainingRecord.read(output.csvPath)
        #expect(records.count == 1 && records[0].id == "synth_9" && records[0].imageWidth == 600)
        let decoded = try RLE.decode(records[0].rle, width: 600, height: 520)
        #expect(decoded.pixels == rendered.mask)
        // A second slide adds its row; writing the first again replaces, not duplicates.
        _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 64, height: 64, seed: 1), to: folder.path)
        _ = try SyntheticSlideWriter.write(SyntheticSlide(width: 600, height: 520, seed: 9), to: folder.path)
        #expect(try TrainingRecord.read(output.csvPath).map(\.id).sorted() == ["synth_1", "synth_9"])
    }
}
