import Core
import Tiling

/// Whole-mask operations on mask TIFFs, streamed so no mask is ever held whole.
public enum MaskFiles {
    /// Column stripes read at once while encoding, at most this wide and about 32 MiB.
    static let stripeWidth = 256

    /// The competition runs of a mask TIFF (first channel, non-zero is foreground), read in
    /// vertical stripes since the numbering runs down columns.
    public static func runs(ofMaskAt path: String, progress: ((Double) -> Void)? = nil) throws -> (runs: [RLE.Run], width: Int, height: Int) {
        let reader = try SlideReader(path: path, cacheBytes: 8 << 20)
        var encoder = RLE.Encoder()
        let columns = max(1, min(stripeWidth, (32 << 20) / (reader.height * 3)))
        for x0 in stride(from: 0, to: reader.width, by: columns) {
            let w = min(columns, reader.width - x0)
            // The first of each pixel's three RGB bytes is the mask value.
            let stripe = try reader.readRGB(x: x0, y: 0, width: w, height: reader.height)
            stripe.pixels.withUnsafeBufferPointer { pixels in
                for x in 0..<w { encoder.append(column: pixels.baseAddress! + 3 * x, count: reader.height, stride: 3 * w) }
            }
            progress?(Double(x0 + w) / Double(reader.width))
        }
        return (encoder.finish(), reader.width, reader.height)
    }

    /// Writes runs as a tiled Deflate mask TIFF (0/255), band by band.
    public static func write(
        _ runs: [RLE.Run], width: Int, height: Int, to path: String, tileSize: Int = 256,
        micronsPerPixel: Double? = nil
    ) throws {
        let writer = try TiledImageWriter(
            path: path, width: width, height: height, channels: 1, tileSize: tileSize,
            micronsPerPixel: micronsPerPixel, deflateLevel: 1)
        for y0 in stride(from: 0, to: height, by: tileSize) {
            let rows = min(tileSize, height - y0)
            try writer.append(rows: RLE.paint(runs, width: width, height: height, firstRow: y0, rows: rows))
        }
        try writer.finish()
    }

    /// Pixel counts of two same-sized masks: |A ∩ B|, |A| and |B|, read band by band.
    public static func overlap(_ pathA: String, _ pathB: String) throws -> Dice {
        let a = try SlideReader(path: pathA, cacheBytes: 16 << 20)
        let b = try SlideReader(path: pathB, cacheBytes: 16 << 20)
        guard a.width == b.width, a.height == b.height else {
            throw TesseraError(pathB, "is \(b.width)×\(b.height) but \(pathA) is \(a.width)×\(a.height)", code: .mismatch)
        }
        var dice = Dice()
        let band = a.bandRows()
        for y0 in stride(from: 0, to: a.height, by: band) {
            let rows = min(band, a.height - y0)
            let bandA = try a.readFirstChannel(x: 0, y: y0, width: a.width, height: rows)
            let bandB = try b.readFirstChannel(x: 0, y: y0, width: b.width, height: rows)
            dice.count(bandA.pixels, bandB.pixels)
        }
        return dice
    }
}
