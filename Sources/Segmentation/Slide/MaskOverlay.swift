import Core

/// A down-scaled picture of a slide with the outlines of a mask drawn on it: a quick look
/// at a segmentation. Slide and mask are read band by band, so any size works.
public enum MaskOverlay {
    /// Renders the overlay at most `maxSide` pixels on its longer side.
    ///
    /// Each output pixel is the mean of a factor × factor block of the slide; it is in the
    /// down-scaled mask when any pixel of its block is. Outline pixels (in the mask, with a
    /// 4-neighbour outside it) are drawn in `colour`; a second mask (the truth), when given,
    /// is outlined in `truthColour` beneath.
    public static func render(
        slide slidePath: String, mask maskPath: String, truth truthPath: String? = nil,
        maxSide: Int = 2048, colour: (UInt8, UInt8, UInt8) = (0, 230, 0),
        truthColour: (UInt8, UInt8, UInt8) = (20, 90, 255)
    ) throws -> PixelImage {
        let slide = try SlideReader(path: slidePath, cacheBytes: 32 << 20)
        let factor = max(1, (max(slide.width, slide.height) + maxSide - 1) / maxSide)
        let width = (slide.width + factor - 1) / factor, height = (slide.height + factor - 1) / factor
        var picture = PixelImage(width: width, height: height, channels: 3)
        var sums = [Int](repeating: 0, count: width * 3)
        var counts = [Int](repeating: 0, count: width)
        for outY in 0..<height {
            for i in sums.indices { sums[i] = 0 }
            for i in counts.indices { counts[i] = 0 }
            try forEachBand(of: slide, outputRow: outY, factor: factor) { band in
                for row in 0..<band.height {
                    for x in 0..<slide.width {
                        let o = x / factor, s = (row * slide.width + x) * 3
                        sums[o * 3] += Int(band.pixels[s]); sums[o * 3 + 1] += Int(band.pixels[s + 1]); sums[o * 3 + 2] += Int(band.pixels[s + 2])
                        counts[o] += 1
                    }
                }
            }
            for o in 0..<width {
                for c in 0..<3 { picture[o, outY, c] = UInt8(sums[o * 3 + c] / max(1, counts[o])) }
            }
        }
        if let truthPath {
            try outline(downscaled(truthPath, like: slide, factor: factor), on: &picture, colour: truthColour)
        }
        try outline(downscaled(maskPath, like: slide, factor: factor), on: &picture, colour: colour)
        return picture
    }

    /// A mask reduced by `factor`: a pixel is set when any of its block is.
    static func downscaled(_ path: String, like slide: SlideReader, factor: Int) throws -> PixelImage {
        let mask = try SlideReader(path: path, cacheBytes: 16 << 20)
        guard mask.width == slide.width, mask.height == slide.height else {
            throw TesseraError(path, "the mask is \(mask.width)×\(mask.height) but the slide is \(slide.width)×\(slide.height)", code: .mismatch)
        }
        let width = (mask.width + factor - 1) / factor, height = (mask.height + factor - 1) / factor
        var small = PixelImage(width: width, height: height, channels: 1)
        for outY in 0..<height {
            try forEachBand(of: mask, outputRow: outY, factor: factor) { band in
                for row in 0..<band.height {
                    for x in 0..<mask.width where band.pixels[(row * mask.width + x) * 3] != 0 { small[x / factor, outY, 0] = 255 }
                }
            }
        }
        return small
    }

    /// Reads the slide rows behind output row `outputRow` in bands of bounded size.
    static func forEachBand(of reader: SlideReader, outputRow: Int, factor: Int, _ body: (PixelImage) -> Void) throws {
        let y0 = outputRow * factor, y1 = min(y0 + factor, reader.height)
        let step = reader.bandRows()
        for y in stride(from: y0, to: y1, by: step) {
            body(try reader.readRGB(x: 0, y: y, width: reader.width, height: min(step, y1 - y)))
        }
    }

    static func outline(_ mask: PixelImage, on picture: inout PixelImage, colour: (UInt8, UInt8, UInt8)) {
        for y in 0..<mask.height {
            for x in 0..<mask.width where mask[x, y, 0] != 0 {
                let edge =
                    x == 0 || y == 0 || x == mask.width - 1 || y == mask.height - 1
                    || mask[x - 1, y, 0] == 0 || mask[x + 1, y, 0] == 0 || mask[x, y - 1, 0] == 0 || mask[x, y + 1, 0] == 0
                if edge {
                    picture[x, y, 0] = colour.0; picture[x, y, 1] = colour.1; picture[x, y, 2] = colour.2
                }
            }
        }
    }
}
