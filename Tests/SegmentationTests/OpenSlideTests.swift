import Core
import Foundation
import OpenSlide
import TestSupport
import Testing

@testable import Segmentation

/// Slides read through OpenSlide (Debian's libopenslide0) behind the same reader: a format
/// that is not TIFF, and the same Aperio slide read both ways.
@Suite(.enabled(if: OpenSlide.unavailable == nil, "OpenSlide is not installed (apt install libopenslide0)"))
struct OpenSlideTests {
    /// The pixels of a binary PPM (P6, 8-bit).
    static func ppm(_ path: String) throws -> PixelImage {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var fields: [String] = [], index = 0
        while fields.count < 4 {
            while bytes[index] == 0x20 || bytes[index] == 0x0A { index += 1 }
            var field = ""
            while bytes[index] != 0x20 && bytes[index] != 0x0A { field.append(Character(UnicodeScalar(bytes[index]))); index += 1 }
            fields.append(field)
        }
        let width = Int(fields[1])!, height = Int(fields[2])!
        return PixelImage(width: width, height: height, channels: 3, pixels: Array(bytes[(index + 1)...]))
    }

    /// tools/make_jp2k_fixture.py: an Aperio SVS of JPEG 2000 tiles (compression 33005, as
    /// TCGA slides), which this libtiff cannot decode: the automatic reader goes to
    /// OpenSlide, whose pixels are the lossless picture exactly; libtiff asked for it by
    /// name refuses, naming the compression.
    @Test func anAperioJPEG2000SlideIsReadThroughOpenSlide() throws {
        let path = Bundle.module.path(forResource: "Fixtures/aperio_jp2k", ofType: "svs")!
        let reader = try SlideReader(path: path)
        #expect(reader.readBy.hasPrefix("OpenSlide") && reader.image.vendor == "aperio", "\(reader.readBy)")
        #expect(reader.width == 512 && reader.height == 384)
        let read = try reader.readRGB(x: 0, y: 0, width: 512, height: 384)
        var differing = 0
        for y in 0..<384 {
            for x in 0..<512 {
                for c in 0..<3 where read.pixels[(y * 512 + x) * 3 + c] != UInt8((3 * x + 5 * y + 60 * c + (x * y) % 23) % 256) {
                    differing += 1
                }
            }
        }
        #expect(differing == 0, "\(differing) samples differ from the picture")
        #expect(reader.image.micronsPerPixel.map { abs($0 - 0.499) < 1e-9 } ?? false, "\(String(describing: reader.image.micronsPerPixel))")
        #expect(throws: TesseraError.self) { try SlideReader(path: path, backend: .tiff).readRGB(x: 0, y: 0, width: 8, height: 8) }
        #expect(SlideReader.explainUndecodable(33005, path: path).contains("Aperio JPEG 2000 (33005)"))
    }

    /// tools/make_vms_fixture.py: a Hamamatsu VMS (an index and JPEGs), which libtiff cannot
    /// read, gives libjpeg's own decoding of its JPEG.
    @Test func aHamamatsuVMSIsReadThroughOpenSlide() throws {
        let folder = Bundle.module.path(forResource: "Fixtures/vms", ofType: nil)!
        let reader = try SlideReader(path: folder + "/slide.vms")
        #expect(reader.readBy.hasPrefix("OpenSlide") && reader.image.vendor == "hamamatsu", "\(reader.readBy)")
        #expect(reader.width == 256 && reader.height == 192)
        let decoded = try Self.ppm(folder + "/decoded.ppm")
        let read = try reader.readRGB(x: 0, y: 0, width: 256, height: 192)
        #expect(read.width == 256 && read.height == 192 && read.pixels.count == decoded.pixels.count)
        #expect(zip(read.pixels, decoded.pixels).filter { $0 != $1 }.count == 0, "bytes differing from libjpeg's decoding")
        // Outside the slide pixels reflect, as from libtiff.
        let corner = try reader.readRGB(x: -2, y: -1, width: 3, height: 2)
        let inside = try reader.readRGB(x: 0, y: 0, width: 3, height: 2)
        #expect(Array(corner.pixels[9..<12]) == Array(inside.pixels[6..<9]))  // (−2, 0) is (2, 0)
        // OpenSlide's JPEG-scaled levels and the map are levels like any other.
        #expect(reader.levels.map(\.downsample).starts(with: [1, 2, 4]))
    }

    /// The same Aperio slide (pyramid, `MPP` in its description) through OpenSlide and
    /// through libtiff: the same pixels at every level, the same pixel size.
    @Test(arguments: ["deflate", "jpeg"])
    func anAperioSlideGivesTheSamePixelsBothWays(compression: String) throws {
        let folder = try TemporaryDirectory()
        // Levels at least a tile (256) wide: OpenSlide 3.4.1 reads smaller Deflate levels as transparent.
        let slide = try SyntheticSlideWriter.write(
            SyntheticSlide(width: 1100, height: 1060, seed: 41), to: folder.path,
            compression: TiledImageWriter.Compression(rawValue: compression)!, pyramid: [4], aperio: true
        ).slidePath
        for downsample in [1, 4] {
            let tiff = try SlideReader(path: slide, downsample: downsample, backend: .tiff)
            let openSlide = try SlideReader(path: slide, downsample: downsample, backend: .openSlide)
            #expect(openSlide.image.vendor == "aperio" && tiff.image.vendor == nil)
            #expect(tiff.width == openSlide.width && tiff.height == openSlide.height)
            #expect(tiff.micronsPerPixel == 0.5 && openSlide.micronsPerPixel == 0.5)
            let a = try tiff.readRGB(x: -5, y: -5, width: tiff.width + 10, height: tiff.height + 10)
            let b = try openSlide.readRGB(x: -5, y: -5, width: tiff.width + 10, height: tiff.height + 10)
            #expect(a.pixels.count == b.pixels.count && zip(a.pixels, b.pixels).allSatisfy { $0 == $1 }, "\(compression), level \(downsample)×")
        }
        // Automatic: libtiff keeps Aperio, so results do not depend on OpenSlide being installed.
        #expect(try SlideReader(path: slide).readBy == "libtiff")
    }

    @Test func whatNeitherReadsIsRefusedSayingWhy() throws {
        let folder = try TemporaryDirectory()
        try Data("not a slide".utf8).write(to: URL(fileURLWithPath: folder.file("x.mrxs")))
        #expect { try SlideReader(path: folder.file("x.mrxs")) } throws: {
            ($0 as? TesseraError).map { $0.code == .unsupported && $0.reason.contains("nor a format OpenSlide") } == true
        }
        #expect { try SlideReader(path: folder.file("x.tiff"), backend: .openSlide) } throws: { $0 is TesseraError }
        // A truncated JPEG behind an index: the read fails naming the slide, never a crash.
        let fixture = Bundle.module.path(forResource: "Fixtures/vms", ofType: nil)!
        for name in ["slide.vms", "map.jpg"] { try FileManager.default.copyItem(atPath: fixture + "/" + name, toPath: folder.file(name)) }
        try Data(try Data(contentsOf: URL(fileURLWithPath: fixture + "/slide.jpg")).prefix(5000)).write(to: URL(fileURLWithPath: folder.file("slide.jpg")))
        #expect {
            try SlideReader(path: folder.file("slide.vms")).readRGB(x: 0, y: 0, width: 256, height: 192)
        } throws: { error in
            guard let error = error as? TesseraError else { return false }
            return error.subject.hasSuffix("slide.vms") && error.reason.contains("OpenSlide")
        }
    }
}
