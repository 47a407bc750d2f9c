import Core
import Foundation
import Segmentation
import Tiling

/// Cuts a slide and its mask into training tiles: `tile` pixels a side after shrinking by
/// `scale` (the seed trained on 256-pixel tiles at a quarter of full resolution), each read
/// on demand, so a slide is never held in memory whole. Tiles of glass are left out by the
/// seed's test: a tile is kept when more than 1000·(tile/256)² of its pixels have an HSV
/// saturation above 40 (of 255).
public final class TileCutter {
    /// A kept tile: its top-left corner in slide pixels, and the fraction of it the mask covers.
    public struct Tile: Sendable, Equatable {
        public let x: Int
        public let y: Int
        public let maskedFraction: Double
    }

    /// Where a slide's mask comes from: a mask TIFF (a `tessera synth` folder), or the
    /// Kaggle RLE text of its train.csv row.
    public enum Mask: Sendable {
        case tiff(String)
        case rle(String)
    }

    public let tile: Int
    public let scale: Int
    private let slide: SlideReader
    /// µm per pixel of the slide, as its file says.
    public var slidePixelSize: Double? { slide.micronsPerPixel }
    private let maskReader: SlideReader?
    private let runs: [RLE.Run]
    /// Tiles at the slide's right and bottom edges that would reach past it are not cut.
    public private(set) var tiles: [Tile] = []

    public init(slidePath: String, mask: Mask, tile: Int = 256, scale: Int = 4) throws {
        guard tile >= 16, scale >= 1 else { throw TesseraError("tiles", "tile \(tile) and scale \(scale) must be at least 16 and 1") }
        self.tile = tile
        self.scale = scale
        slide = try SlideReader(path: slidePath)
        switch mask {
        case .tiff(let path):
            let reader = try SlideReader(path: path)
            guard reader.width == slide.width, reader.height == slide.height else {
                throw TesseraError(path, "the mask is \(reader.width)×\(reader.height), its slide \(slide.width)×\(slide.height)", code: .mismatch)
            }
            maskReader = reader
            runs = []
        case .rle(let text):
            maskReader = nil
            do {
                runs = try RLE.parse(text[...], width: slide.width, height: slide.height)
            } catch {
                throw TesseraError(slidePath, "its RLE does not fit its \(slide.width)×\(slide.height) pixels: \(error)", code: .mismatch)
            }
        }
        let span = tile * scale
        let threshold = 1000 * (tile * tile) / (256 * 256)
        for y in stride(from: 0, through: slide.height - span, by: span) {
            for x in stride(from: 0, through: slide.width - span, by: span) {
                let (image, labels) = try read(x: x, y: y)
                guard Self.saturatedPixels(image) > threshold else { continue }
                let masked = labels.pixels.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
                tiles.append(Tile(x: x, y: y, maskedFraction: Double(masked) / Double(tile * tile)))
            }
        }
    }

    /// The tile at (x, y) shrunk by `scale`: pixels averaged over each scale × scale block
    /// (rounded half up), the mask set where at least half the block is.
    public func read(x: Int, y: Int) throws -> (image: PixelImage, mask: PixelImage) {
        let span = tile * scale
        let rgb = try slide.readRGB(x: x, y: y, width: span, height: span)
        let labels =
            try maskReader?.readFirstChannel(x: x, y: y, width: span, height: span)
            ?? PixelImage(
                width: span, height: span, channels: 1,
                pixels: RLE.paint(runs, width: slide.width, height: slide.height, x: x, y: y, w: span, h: span))
        if scale == 1 { return (rgb, PixelImage(width: tile, height: tile, channels: 1, pixels: labels.pixels.map { $0 > 0 ? 1 : 0 })) }
        var image = PixelImage(width: tile, height: tile, channels: 3)
        var binary = PixelImage(width: tile, height: tile, channels: 1)
        let area = scale * scale
        for ty in 0..<tile {
            for tx in 0..<tile {
                var sums = [0, 0, 0], covered = 0
                for dy in 0..<scale {
                    let row = (ty * scale + dy) * span
                    for dx in 0..<scale {
                        let p = row + tx * scale + dx
                        for c in 0..<3 { sums[c] += Int(rgb.pixels[3 * p + c]) }
                        if labels.pixels[p] > 0 { covered += 1 }
                    }
                }
                for c in 0..<3 { image.pixels[3 * (ty * tile + tx) + c] = UInt8((sums[c] + area / 2) / area) }
                binary.pixels[ty * tile + tx] = 2 * covered >= area ? 1 : 0
            }
        }
        return (image, binary)
    }

    /// Pixels whose HSV saturation, (max − min)/max · 255, exceeds 40.
    static func saturatedPixels(_ image: PixelImage) -> Int {
        var count = 0
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            let r = Int(image.pixels[p]), g = Int(image.pixels[p + 1]), b = Int(image.pixels[p + 2])
            let high = max(r, g, b), low = min(r, g, b)
            if high > 0 && (high - low) * 255 > 40 * high { count += 1 }
        }
        return count
    }
}
