import Core
import Foundation
import OpenSlide
import TIFF

extension SlideReader {
    // MARK: Decoding plan

    /// How the selected directory's pixels are turned into RGB.
    struct Decoder {
        enum Mode { case blocks(BlockLayout), scanlines(BlockLayout), rgba, openSlide(level: Int, background: (UInt8, UInt8, UInt8)) }
        let mode: Mode

        init(openSlideLevel level: Int, background: (UInt8, UInt8, UInt8)) { mode = .openSlide(level: level, background: background) }

        init(file: TIFFFile, image: SlideDirectory, path: String, maxBlockBytes: Int) throws {
            guard image.width > 0, image.height > 0 else {
                throw TesseraError(path, "the image has no pixels (\(image.width)×\(image.height))")
            }
            guard image.width <= SlideReader.maxDimension, image.height <= SlideReader.maxDimension else {
                throw TesseraError(
                    path,
                    "the header claims \(image.width)×\(image.height) pixels, beyond any slide (limit \(SlideReader.maxDimension) a side); the file is corrupt",
                    code: .malformed)
            }
            guard TIFFCompression.isConfigured(image.compression) else {
                throw TesseraError(path, SlideReader.explainUndecodable(image.compression, path: path, libtiffAskedFor: true), code: .unsupported)
            }
            if let tile = image.tileSize {
                guard tile.width > 0, tile.height > 0, tile.width * tile.height <= 1 << 24 else {
                    throw TesseraError(path, "the header claims \(tile.width)×\(tile.height) tiles; the file is corrupt", code: .malformed)
                }
            }
            let photometric = image.photometric
            var direct = image.bitsPerSample == 8 && image.sampleFormat == 1
            direct =
                direct
                && ((photometric == TIFFPhotometric.minIsBlack && (1...2).contains(image.samplesPerPixel))
                    || (photometric == TIFFPhotometric.rgb && (3...4).contains(image.samplesPerPixel))
                    || (photometric == TIFFPhotometric.yCbCr && image.compression == TIFFCompression.jpeg.rawValue
                        && image.samplesPerPixel == 3 && image.planarConfig == 1))
            if direct && photometric == TIFFPhotometric.yCbCr {
                // libtiff's JPEG codec converts YCbCr to RGB when asked.
                try? file.set(TIFFTag.jpegColorMode, 1)
            }
            if direct {
                let layout = BlockLayout(file: file, image: image)
                if layout.blockBytes <= maxBlockBytes {
                    mode = .blocks(layout)
                } else if !layout.tiled {
                    mode = .scanlines(layout)
                } else {
                    throw TesseraError(path, "tiles of \(layout.blockBytes) bytes are too large", code: .unsupported)
                }
                return
            }
            if image.sampleFormat == 3 || image.sampleFormat == 2 {
                throw TesseraError(
                    path,
                    "unsupported sample format: \(image.bitsPerSample)-bit \(image.sampleFormat == 3 ? "floating point" : "signed integer") samples; convert the slide to 8-bit RGB",
                    code: .unsupported)
            }
            let (ok, reason) = file.rgbaConvertible()
            guard ok else {
                throw TesseraError(path, "unsupported image layout (\(image.summary)): \(reason)", code: .unsupported)
            }
            if image.tileSize == nil, let rows = image.rowsPerStrip, rows * image.width * 4 > maxBlockBytes {
                throw TesseraError(
                    path, "strips of \(rows) rows in this layout (\(image.summary)) are too large to convert; re-save the slide tiled", code: .unsupported)
            }
            mode = .rgba
        }
    }

    /// Geometry of decoded blocks for the direct path.
    struct BlockLayout {
        let tiled: Bool
        let blockWidth: Int
        let blockHeight: Int
        let blockBytes: Int
        /// Samples per pixel in the file.
        let samples: Int
        /// 1 for contiguous samples, else one plane per sample.
        let planes: Int

        init(file: TIFFFile, image: SlideDirectory) {
            tiled = image.tileSize != nil
            samples = image.samplesPerPixel
            planes = image.planarConfig == 2 ? image.samplesPerPixel : 1
            if let tile = image.tileSize {
                blockWidth = tile.width
                blockHeight = tile.height
                blockBytes = file.tileSize
            } else {
                blockWidth = image.width
                blockHeight = image.rowsPerStrip ?? image.height
                blockBytes = file.stripSize
            }
        }

        /// Copies `pixels` pixels of one block row (or one plane of it) to RGB: grey
        /// replicates, alpha is dropped, a separate plane fills its channel.
        @inline(__always)
        func copyRow(from source: UnsafePointer<UInt8>, to target: UnsafeMutablePointer<UInt8>, pixels: Int, plane: Int) {
            if planes == 1 {
                switch samples {
                case 3:
                    target.update(from: source, count: pixels * 3)
                case 4:
                    for i in 0..<pixels { target[3 * i] = source[4 * i]; target[3 * i + 1] = source[4 * i + 1]; target[3 * i + 2] = source[4 * i + 2] }
                default:
                    for i in 0..<pixels { let v = source[samples * i]; target[3 * i] = v; target[3 * i + 1] = v; target[3 * i + 2] = v }
                }
            } else if samples >= 3 {
                if plane < 3 { for i in 0..<pixels { target[3 * i + plane] = source[i] } }
            } else if plane == 0 {
                for i in 0..<pixels { let v = source[i]; target[3 * i] = v; target[3 * i + 1] = v; target[3 * i + 2] = v }
            }
        }
    }
}
