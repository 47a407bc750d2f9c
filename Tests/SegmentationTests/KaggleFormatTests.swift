import Core
import Foundation
import Testing
import Tiling

@testable import Segmentation

@Suite struct KaggleFormatTests {
    struct Case { let mask: PixelImage; let rle: String }

    static func cases() throws -> [Case] {
        let text = try String(contentsOfFile: FixturePattern.path("rle_cases.txt"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return stride(from: 0, to: lines.count - 2, by: 3).map { i in
            let size = lines[i].split(separator: " ").map { Int($0)! }
            let pixels = lines[i + 1].utf8.map { $0 == UInt8(ascii: "1") ? UInt8(255) : 0 }
            return Case(mask: PixelImage(width: size[0], height: size[1], channels: 1, pixels: pixels), rle: String(lines[i + 2]))
        }
    }

    /// Painting the runs of a rectangle equals cropping the whole decoded mask there, for
    /// rectangles on edges, inside, and across runs that wrap from column to column.
    @Test func runsPaintedInARectangleEqualTheCrop() throws {
        var random = SplitMix64(seed: 21)
        let (width, height) = (37, 23)
        let mask = PixelImage(
            width: width, height: height, channels: 1,
            pixels: (0..<(width * height)).map { _ in random.next() % 3 == 0 ? 255 : 0 })
        let runs = try RLE.parse(RLE.encode(mask)[...], width: width, height: height)
        for (x, y, w, h) in [(0, 0, 37, 23), (5, 3, 10, 7), (30, 15, 7, 8), (0, 22, 37, 1), (36, 0, 1, 23), (12, 0, 1, 1)] {
            let crop = (y..<(y + h)).flatMap { row in mask.pixels[(row * width + x)..<(row * width + x + w)] }
            #expect(RLE.paint(runs, width: width, height: height, x: x, y: y, w: w, h: h) == crop, "\((x, y, w, h))")
        }
    }

    @Test func encodeMatchesTheNumpyReference() throws {
        let cases = try Self.cases()
        #expect(cases.count == 41)
        for c in cases { #expect(RLE.encode(c.mask) == c.rle, "\(c.mask.width)×\(c.mask.height)") }
    }

    @Test func rowStreamedRunsMatchTheNumpyReference() throws {
        for c in try Self.cases() {
            // Fed in bands of 1, 3 and all rows: the runs must not depend on the banding.
            for band in [1, 3, c.mask.height] {
                var encoder = RowRunEncoder(width: c.mask.width, height: c.mask.height)
                for y0 in stride(from: 0, to: c.mask.height, by: band) {
                    let rows = min(band, c.mask.height - y0)
                    encoder.append(rows: Array(c.mask.pixels[(y0 * c.mask.width)..<((y0 + rows) * c.mask.width)]))
                }
                #expect(RLE.text(encoder.finish()) == c.rle, "\(c.mask.width)×\(c.mask.height) in bands of \(band)")
            }
        }
    }

    @Test func rowStreamedRunsMatchColumnEncodingOnRandomMasks() {
        var random = SplitMix64(seed: 7)
        for (width, height) in [(1, 1), (1, 9), (9, 1), (13, 11), (64, 5), (67, 40)] {
            for density in [0, 1, 2, 8] {
                // Blobs: runs that cross rows, words and column ends; foreground is any
                // non-zero value, so with `varied` neighbouring rows differ in bytes where
                // they agree on foreground.
                let varied = density % 2 == 1
                let pixels = (0..<(width * height)).map { _ -> UInt8 in
                    guard density > 0 && random.next() % UInt64(density + 1) != 0 else { return 0 }
                    return varied ? UInt8(1 + random.next() % 255) : 255
                }
                let mask = PixelImage(width: width, height: height, channels: 1, pixels: pixels)
                var encoder = RowRunEncoder(width: width, height: height)
                encoder.append(rows: pixels)
                #expect(encoder.finish() == RLE.runs(of: mask), "\(width)×\(height), density \(density)")
            }
        }
    }

    @Test func decodeInvertsTheNumpyReference() throws {
        for c in try Self.cases() {
            #expect(try RLE.decode(c.rle, width: c.mask.width, height: c.mask.height) == c.mask)
        }
    }

    @Test func paintingBandsAssemblesTheWholeMask() throws {
        for c in try Self.cases() where c.mask.height > 3 {
            let runs = try RLE.parse(c.rle[...], width: c.mask.width, height: c.mask.height)
            var assembled: [UInt8] = []
            for y0 in stride(from: 0, to: c.mask.height, by: 3) {
                assembled += RLE.paint(runs, width: c.mask.width, height: c.mask.height, firstRow: y0, rows: min(3, c.mask.height - y0))
            }
            #expect(assembled == c.mask.pixels)
        }
    }

    @Test(arguments: [
        ("1 2 3", "odd number"), ("5 2 3 1", "does not follow"), ("0 3", "positive"),
        ("35 2", "passes the image"), ("a b", "not two whole numbers"), ("1 3 3 4", "does not follow"),
    ])
    func malformedRLEIsRefused(text: String, reason: String) {
        #expect {
            _ = try RLE.parse(text[...], width: 5, height: 7)
        } throws: { ($0 as? TesseraError).map { $0.code == .malformed && $0.reason.contains(reason) } == true }
    }

    @Test func maskTIFFRoundTripsThroughRLE() throws {
        let c = try Self.cases().first { $0.mask.height == 64 && $0.mask.pixels.contains(255) && $0.mask.pixels.contains(0) }!
        let runs = try RLE.parse(c.rle[...], width: c.mask.width, height: c.mask.height)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rle-\(UUID()).tif").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try MaskFiles.write(runs, width: c.mask.width, height: c.mask.height, to: path, tileSize: 16)
        let back = try MaskFiles.runs(ofMaskAt: path)
        #expect(RLE.text(back.runs) == c.rle)
        #expect(try MaskFiles.overlap(path, path).value == 1)
    }

    @Test func diceCountsOverlap() {
        var dice = Dice()
        dice.count([255, 255, 0, 0], [255, 0, 255, 0])
        #expect(dice.value == 0.5)
        #expect(Dice().value == 1)
    }

    @Test func trainCSVReadsBothCompetitionsLayouts() throws {
        let text = """
            id,organ,data_source,img_height,img_width,pixel_size,tissue_thickness,rle,age,sex
            10044,prostate,HPA,3,4,0.4,4,"1 2 5 3",37.0,Male
            8227,kidney,Hubmap,3,4,0.5,10,,76.0,Male
            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID()).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let records = try TrainingRecord.read(path)
        #expect(records.count == 2)
        #expect(records[0] == TrainingRecord(id: "10044", organ: "prostate", imageHeight: 3, imageWidth: 4, pixelSize: 0.4, tissueThickness: 4, rle: "1 2 5 3"))
        #expect(records[1].rle.isEmpty)
        let written = TrainingRecord.table(records).text
        #expect(written.hasPrefix("id,organ,img_height,img_width,pixel_size,tissue_thickness,rle\n10044,prostate,3,4,0.4,4,1 2 5 3\n"))
    }

    @Test func trainCSVErrorsNameTheLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "id,organ,img_height,img_width,pixel_size,tissue_thickness,rle\n1,kidney,3,x,0.5,10,\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try TrainingRecord.read(path) } throws: { "\($0)".contains("line 2") && "\($0)".contains("img_width") }
        try "id,organ,img_height,img_width,pixel_size,tissue_thickness,rle\n1,kidney,3,4,0.5,10,11 5\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try TrainingRecord.read(path) } throws: { "\($0)".contains("passes the image") }
    }

    @Test func submissionQuotesOnlyWhatNeedsIt() {
        var submission = Submission()
        submission.rows = [("a", "1 2"), ("b,c", "")]
        #expect(submission.table.text == "id,rle\na,1 2\n\"b,c\",\n")
    }
}
