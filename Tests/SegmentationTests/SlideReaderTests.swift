import Core
import TestSupport
import Testing

@testable import Segmentation

@Suite struct SlideReaderTests {
    /// Lossless layouts: every pixel must be the pattern's, grey ones replicating channel 0.
    @Test(arguments: [
        ("rgb_strips_none.tif", false), ("rgb_tiled_lzw.tif", false),
        ("rgb_tiled_deflate_separate.tif", false), ("rgb_strips_deflate_separate.tif", false),
        ("rgb_bigtiff_tiled_deflate.tif", false), ("rgba_strips_none.tif", false),
        ("grey_tiled_deflate.tif", true), ("grey_alpha_strips.tif", true),
        ("rgb16_strips.tif", false), ("pyramid_subifds.tif", false), ("pages_thumbnail_first.tif", false),
    ])
    func readsEveryLosslessLayoutExactly(name: String, grey: Bool) throws {
        let reader = try SlideReader(path: FixturePattern.path(name))
        #expect(reader.width == FixturePattern.width && reader.height == FixturePattern.height)
        let image = try reader.readRGB(x: 0, y: 0, width: reader.width, height: reader.height)
        var mismatches = 0
        for y in 0..<reader.height {
            for x in 0..<reader.width {
                for c in 0..<3 where image[x, y, c] != FixturePattern.value(x, y, grey ? 0 : c) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0, "\(name): \(mismatches) samples differ")
    }

    /// Strips too large to decode whole are read a scanline at a time, with the same pixels.
    @Test(arguments: ["rgb_strips_none.tif", "rgb_strips_deflate_separate.tif", "grey_alpha_strips.tif"])
    func hugeStripsAreReadByScanline(name: String) throws {
        let reader = try SlideReader(path: FixturePattern.path(name), maxBlockBytes: 100)
        let grey = name.hasPrefix("grey")
        let image = try reader.readRGB(x: -5, y: 3, width: 80, height: 40)
        for y in 0..<40 {
            for x in 0..<80 {
                let sx = reflectIndex(x - 5, count: 70), sy = y + 3
                for c in 0..<3 { #expect(image[x, y, c] == FixturePattern.value(sx, sy, grey ? 0 : c)) }
            }
        }
    }

    @Test func bigTIFFIsReported() throws {
        #expect(try SlideReader(path: FixturePattern.path("rgb_bigtiff_tiled_deflate.tif")).isBigTIFF)
        #expect(try !SlideReader(path: FixturePattern.path("rgb_tiled_lzw.tif")).isBigTIFF)
    }

    @Test func paletteIsConverted() throws {
        let reader = try SlideReader(path: FixturePattern.path("palette_strips.tif"))
        let image = try reader.readRGB(x: 0, y: 0, width: 70, height: 50)
        for y in [0, 17, 49] {
            for x in [0, 33, 69] {
                for c in 0..<3 { #expect(image[x, y, c] == FixturePattern.value(x, 0, c)) }
            }
        }
    }

    @Test func jpegDecodesCloseToTheSource() throws {
        let reader = try SlideReader(path: FixturePattern.path("rgb_tiled_jpeg_ycbcr.tif"))
        let image = try reader.readRGB(x: 0, y: 0, width: 70, height: 50)
        var worst = 0, total = 0
        for y in 0..<50 {
            for x in 0..<70 {
                for c in 0..<3 {
                    let difference = abs(Int(image[x, y, c]) - Int(FixturePattern.smooth(x, y, c)))
                    worst = max(worst, difference)
                    total += difference
                }
            }
        }
        // tifffile's own decode of this file: mean 0.94, worst 30 (the partial corner tile).
        let mean = Double(total) / Double(70 * 50 * 3)
        #expect(mean <= 2 && worst <= 32, "JPEG differs by \(mean) on average, \(worst) at worst")
    }

    @Test func pyramidSelectsTheFullResolutionImageAndItsResolution() throws {
        let reader = try SlideReader(path: FixturePattern.path("pyramid_subifds.tif"))
        #expect(reader.directories.count == 3)
        #expect(reader.image.location == .page(0))
        #expect(abs((reader.image.micronsPerPixel ?? 0) - 0.5) < 1e-3)
        let pages = try SlideReader(path: FixturePattern.path("pages_thumbnail_first.tif"))
        #expect(pages.image.location == .page(1))
    }

    /// Rectangles partly or wholly outside reflect (reflect-101), whatever the layout.
    @Test(arguments: ["rgb_tiled_lzw.tif", "rgb_strips_none.tif", "rgb_tiled_deflate_separate.tif"])
    func outsideReflects(name: String) throws {
        let reader = try SlideReader(path: FixturePattern.path(name))
        for (x0, y0, w, h) in [(-20, -10, 40, 30), (50, 40, 45, 33), (-200, 300, 16, 16), (3, 4, 5, 6), (-1, -1, 72, 52), (-100, 45, 300, 9)] {
            let image = try reader.readRGB(x: x0, y: y0, width: w, height: h)
            for y in 0..<h {
                for x in 0..<w {
                    let sx = reflectIndex(x0 + x, count: 70), sy = reflectIndex(y0 + y, count: 50)
                    for c in 0..<3 { #expect(image[x, y, c] == FixturePattern.value(sx, sy, c)) }
                }
            }
        }
    }

    @Test func reflectionFollowsReflect101() {
        #expect((-3...7).map { reflectIndex($0, count: 4) } == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1])
        #expect(reflectIndex(-5, count: 1) == 0)
        #expect(reflectIndex(1_000_001, count: 3) == 1)
    }

    /// Bad files fail with an error naming the file and a reason; none crashes.
    @Test(arguments: [
        ("empty.tif", "empty", TesseraError.Code.malformed), ("not_a_tiff.tif", "not a TIFF", .unsupported),
        ("float32.tif", "floating point", .unsupported), ("absurd_dimensions.tif", "corrupt", .malformed),
        ("missing.tif", "cannot open", .notFound),
    ])
    func badFilesAreRefusedOnOpen(name: String, reason: String, code: TesseraError.Code) {
        let path = name == "missing.tif" ? "/nonexistent/missing.tif" : FixturePattern.path(name)
        do {
            _ = try SlideReader(path: path)
            Issue.record("\(name) opened")
        } catch let error as TesseraError {
            #expect(error.subject == path)
            #expect(error.reason.contains(reason) && error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: ["truncated.tif", "huge_claim_no_data.tif"])
    func truncatedDataFailsOnRead(name: String) throws {
        let path = FixturePattern.path(name)
        #expect(throws: TesseraError.self) {
            let reader = try SlideReader(path: path)
            for y in stride(from: 0, to: min(reader.height, 2048), by: 256) {
                _ = try reader.readRGB(x: 0, y: y, width: min(reader.width, 512), height: 256)
            }
        }
    }
}

/// µm per pixel and where it came from.
@Suite struct PixelSizeTests {
    /// A 32² RGB slide with `description` and, when given, resolution tags.
    static func slide(description: String?, micronsPerPixel: Double? = nil) throws -> (TemporaryDirectory, SlideReader) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/slide.tiff"
        let writer = try TiledImageWriter(
            path: path, width: 32, height: 32, channels: 3, tileSize: 16, micronsPerPixel: micronsPerPixel,
            description: description)
        try writer.append(rows: [UInt8](repeating: 200, count: 32 * 32 * 3))
        try writer.finish()
        return (folder, try SlideReader(path: path))
    }

    static let aperio =
        "Aperio Image Library v11.2.1 \r\n46000x32914 [0,100 46000x32814] (256x256) JPEG/RGB Q=30|AppMag = 20|StripeWidth = 2040|ScanScope ID = CPAPERIOCS|Filename = CMU-1|MPP = 0.4990|Left = 25.691574|Top = 23.449873"

    @Test func aperiosDescriptionGivesItsMPP() throws {
        let (_, reader) = try Self.slide(description: Self.aperio)
        #expect(reader.image.micronsPerPixel == 0.499 && reader.image.pixelSizeSource == "Aperio MPP")
        // Before resolution tags, which Aperio files leave absent or as placeholders.
        let (_, both) = try Self.slide(description: Self.aperio, micronsPerPixel: 0.25)
        #expect(both.image.micronsPerPixel == 0.499)
    }

    @Test func resolutionTagsThenOMEXML() throws {
        let (_, tags) = try Self.slide(description: nil, micronsPerPixel: 0.25)
        #expect(abs(tags.image.micronsPerPixel! - 0.25) < 1e-6 && tags.image.pixelSizeSource == "TIFF resolution tags")
        let ome = #"<?xml version="1.0"?><OME><Image><Pixels PhysicalSizeX="263" PhysicalSizeXUnit="nm" SizeX="32"/></Image></OME>"#
        let (_, xml) = try Self.slide(description: ome)
        #expect(abs(xml.image.micronsPerPixel! - 0.263) < 1e-9 && xml.image.pixelSizeSource == "OME-XML PhysicalSizeX")
        let (_, none) = try Self.slide(description: "Aperio Image Library|AppMag = 20|MPP = none")
        #expect(none.image.micronsPerPixel == nil && none.image.pixelSizeSource == nil)
    }
}
