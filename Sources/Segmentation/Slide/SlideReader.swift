import Core
import Foundation
import OpenSlide
import TIFF
import Tiling

/// Reads rectangles of a slide's full-resolution image as 8-bit RGB (or its first channel).
///
/// - Any TIFF directory can hold the full-resolution image: the reader takes the largest of
///   all pages and sub-IFDs, so pyramids (OME-TIFF, SVS-like) work.
/// - Only the tiles or strips that meet a rectangle are decoded, through a small LRU cache,
///   so memory follows the rectangle (and the cache bound), never the slide.
/// - 8-bit grey, grey+alpha, RGB and RGBA, contiguous or planar-separate, with any codec
///   libtiff has (none, LZW, Deflate, JPEG, ...), are copied directly; other layouts that
///   libtiff's RGBA interface converts cheaply (palette, 1/4/16-bit, min-is-white, YCbCr,
///   CMYK) go through it; the rest (float, signed, ...) are refused with the reason.
/// - Rectangles may lie partly or wholly outside the image: outside pixels reflect
///   (`reflectIndex`), as the tiler needs.
/// - Slides that are not TIFF, and the TIFF variants only OpenSlide places right (Leica,
///   Ventana, Hamamatsu NDPI, Philips, Trestle), are read through OpenSlide when it is
///   installed (`Backend`); libtiff reads every other TIFF, Aperio's included.
///
/// Not thread-safe: give each thread its own reader.
public final class SlideReader {
    /// The file's path.
    public let path: String
    /// Every directory of the file, pages first, each followed by its sub-IFDs.
    public let directories: [SlideDirectory]
    /// The directory the reader serves: the full-resolution image, or the pyramid level
    /// asked for.
    public let image: SlideDirectory
    /// The slide's pyramid, finest (the full-resolution image) first.
    public let levels: [SlideLevel]
    /// Full-resolution pixels per pixel of `image`: 1 unless a reduced level was asked for.
    public let downsample: Int
    /// µm per full-resolution pixel, when the file says.
    public var micronsPerPixel: Double? { levels[0].directory.micronsPerPixel }
    /// Whether the file is BigTIFF.
    public let isBigTIFF: Bool

    public var width: Int { image.width }
    public var height: Int { image.height }

    /// Blocks (tiles or strips) decoded so far: with a cache that holds what reads share,
    /// each block of the image once.
    public private(set) var blocksDecoded = 0

    /// The TIFF file libtiff reads, or nil when OpenSlide reads the slide.
    private let file: TIFFFile?
    /// The slide OpenSlide reads, or nil when libtiff does.
    private let openSlide: OpenSlide?
    private let decoder: Decoder
    private var cache: BlockCache
    /// The TIFF file; only the TIFF decoding modes, which exist only with one, reach this.
    private var tiff: TIFFFile { file! }

    /// Which library reads a slide.
    public typealias Backend = SlideBackend

    /// The reader asked for; other readers of the same slide (pyramid levels, threads) ask for it too.
    public let backend: Backend

    /// Who reads this slide: "libtiff", or "OpenSlide 3.4.1 (mirax)".
    public var readBy: String {
        guard openSlide != nil else { return "libtiff" }
        return "OpenSlide \(OpenSlide.version ?? "") (\(image.vendor ?? "?"))"
    }

    /// Who reads which slides here: "libtiff for TIFF, OpenSlide 3.4.1 for other formats",
    /// or why other formats are refused.
    public static var readers: String {
        if let reason = OpenSlide.unavailable { return "libtiff for TIFF; other formats refused: \(reason)" }
        return "libtiff for TIFF, OpenSlide \(OpenSlide.version ?? "") for other formats"
    }

    /// Extensions of formats whose slide is an index beside other files (Hamamatsu VMS and
    /// VMU, MIRAX): they can be read in place, not uploaded as one file.
    public static let multiFileExtensions: Set<String> = ["vms", "vmu", "mrxs"]

    /// OpenSlide vendors whose files libtiff reads as well, and is kept for: exact,
    /// and the same whether or not OpenSlide is installed.
    static let tiffVendors: Set<String> = ["aperio", "generic-tiff"]

    /// The default largest block (decoded tile or strip) the reader allocates; larger
    /// strips are read scanline by scanline.
    public static let defaultMaxBlockBytes = 64 << 20
    /// Dimensions beyond this are taken as a corrupt header rather than a slide.
    static let maxDimension = 1 << 22

    /// Opens `path` and selects its full-resolution image, or the pyramid level reduced by
    /// `downsample` (one of `levels`).
    ///
    /// `cacheBytes` bounds the decoded tiles or strips kept between reads; strips that
    /// decode to more than `maxBlockBytes` are read a scanline at a time instead.
    public init(
        path: String, cacheBytes: Int = 64 << 20, maxBlockBytes: Int = SlideReader.defaultMaxBlockBytes,
        downsample: Int = 1, backend: Backend = .automatic
    ) throws {
        self.path = path
        self.backend = backend
        var directories: [SlideDirectory] = []
        var tiff: TIFFFile?
        var useOpenSlide = try Self.readsWithOpenSlide(path, backend)
        if !useOpenSlide {
            let file: TIFFFile
            do {
                file = try TIFFFile(path: path, mode: "r", maxSingleAllocation: 512 << 20)
            } catch let error as TIFFError {
                throw Self.openFailure(path: path, libtiff: error.reason)
            }
            directories = try Self.listDirectories(file, path: path)
            tiff = file
            // A TIFF whose image this libtiff cannot decode (Aperio's JPEG 2000, 33003 and
            // 33005, as TCGA slides have) goes to OpenSlide when it is here and knows the file.
            if backend == .automatic, let compression = Self.undecodable(directories) {
                guard OpenSlide.unavailable == nil, OpenSlide.vendor(of: path) != nil else {
                    throw TesseraError(path, Self.explainUndecodable(compression, path: path), code: .unsupported)
                }
                (useOpenSlide, tiff, directories) = (true, nil, [])
            }
        }
        if useOpenSlide {
            let slide: OpenSlide
            do { slide = try OpenSlide(path: path) } catch let error as OpenSlideError { throw TesseraError(path, error.reason, code: .malformed) }
            let vendor = slide.property("openslide.vendor") ?? OpenSlide.vendor(of: path) ?? "?"
            directories = (0..<slide.levelCount).map { SlideDirectory(openSlide: slide, level: $0, vendor: vendor) }
            (file, openSlide, isBigTIFF) = (nil, slide, false)
        } else {
            (self.file, openSlide, isBigTIFF) = (tiff, nil, tiff?.isBigTIFF ?? false)
        }
        self.directories = directories
        guard let full = directories.max(by: { $0.width * $0.height < $1.width * $1.height }) else {
            throw TesseraError(path, "the file holds no image", code: .malformed)
        }
        levels = SlideLevel.levels(of: directories, full: full)
        guard let level = levels.first(where: { $0.downsample == downsample }) else {
            throw TesseraError(
                path, "has no pyramid level reduced \(downsample)× (levels: \(levels.map { "\($0.downsample)×" }.joined(separator: ", ")))", code: .notFound)
        }
        self.image = level.directory
        self.downsample = downsample
        if let file {
            try Self.select(image.location, in: file, path: path)
            self.decoder = try Decoder(file: file, image: image, path: path, maxBlockBytes: maxBlockBytes)
        } else {
            guard case .openSlideLevel(let index) = image.location, let slide = openSlide else { preconditionFailure("an OpenSlide level") }
            let hex = slide.property("openslide.background-color").flatMap { UInt32($0, radix: 16) } ?? 0xFFFFFF
            self.decoder = Decoder(openSlideLevel: index, background: (UInt8(hex >> 16 & 0xFF), UInt8(hex >> 8 & 0xFF), UInt8(hex & 0xFF)))
        }
        self.cache = BlockCache(capacityBytes: cacheBytes)
    }

    // MARK: Reading

    /// The rectangle (x, y, width, height) as 8-bit RGB; outside the image, pixels reflect.
    public func readRGB(x: Int, y: Int, width: Int, height: Int) throws -> PixelImage {
        precondition(width >= 0 && height >= 0)
        if width == 0 || height == 0 { return PixelImage(width: width, height: height, channels: 3) }
        if x >= 0, y >= 0, x + width <= self.width, y + height <= self.height {
            return PixelImage(width: width, height: height, channels: 3, pixels: try readInside(x: x, y: y, width: width, height: height))
        }
        // Source coordinates of every output row and column, and the inside box they span.
        let columns = (0..<width).map { reflectIndex(x + $0, count: self.width) }
        let rows = (0..<height).map { reflectIndex(y + $0, count: self.height) }
        let x0 = columns.min()!, x1 = columns.max()! + 1
        let y0 = rows.min()!, y1 = rows.max()! + 1
        let inside = try readInside(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        let insideWidth = x1 - x0
        // Output columns whose source is the slide's own column, in order: one copy a row.
        // Only the reflected columns either side go pixel by pixel.
        let firstDirect = min(width, max(0, -x))
        let direct = firstDirect..<max(firstDirect, min(width, self.width - x))
        let reflectedColumns = [0..<direct.lowerBound, direct.upperBound..<width]
        // Every output pixel is written below, so the storage starts uninitialised.
        let pixels = inside.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: width * height * 3) { target, count in
                for row in 0..<height {
                    let sourceRow = source.baseAddress! + (rows[row] - y0) * insideWidth * 3
                    let targetRow = target.baseAddress! + row * width * 3
                    (targetRow + direct.lowerBound * 3).initialize(from: sourceRow + (x + direct.lowerBound - x0) * 3, count: direct.count * 3)
                    for reflected in reflectedColumns {
                        for column in reflected {
                            let s = sourceRow + (columns[column] - x0) * 3, t = targetRow + column * 3
                            t[0] = s[0]; t[1] = s[1]; t[2] = s[2]
                        }
                    }
                }
                count = width * height * 3
            }
        }
        return PixelImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// The rectangle's first channel (masks and grey images), reflecting outside the image.
    public func readFirstChannel(x: Int, y: Int, width: Int, height: Int) throws -> PixelImage {
        try readRGB(x: x, y: y, width: width, height: height).firstChannel()
    }

    /// Raises the decoded-block cache (never lowers it, and to at most `limit` bytes) so
    /// that it holds every block a `width` × `height` rectangle can meet.
    ///
    /// Tiles are read row after row, and each window row shares slide blocks with the
    /// next. A cache smaller than the blocks of two window rows evicts the shared ones
    /// before the next row needs them, and every block is decoded twice: on a 40,000-pixel
    /// wide slide, 64 MB holds barely one row of 512² blocks. Callers pass the band they
    /// read across and a window plus a stride down.
    public func keepBlocks(forWidth width: Int, height: Int, limit: Int = 512 << 20) {
        let block: (width: Int, height: Int, bytes: Int)
        switch decoder.mode {
        case .blocks(let layout):
            block = (layout.blockWidth, layout.blockHeight, layout.blockBytes * layout.planes)
        case .scanlines(let layout):
            block = (self.width, 1, tiff.scanlineSize * layout.planes)
        case .rgba, .openSlide:
            return  // libtiff's RGBA interface and OpenSlide read without this cache
        }
        // A rectangle not aligned to blocks meets one more of them each way.
        let across = min(width, self.width) / block.width + 2, down = min(height, self.height) / block.height + 2
        let columns = min(across, (self.width + block.width - 1) / block.width)
        let rows = min(down, (self.height + block.height - 1) / block.height)
        cache.reserve(min(limit, columns * rows * block.bytes))
    }

    /// Rows of full width to read at once so a band stays near `bytes` (at least one row,
    /// at most `limit`): what whole-slide passes use, so that a corrupt header claiming a
    /// huge width cannot make them allocate by the claim.
    public func bandRows(targetBytes bytes: Int = 32 << 20, limit: Int = 256) -> Int {
        max(1, min(limit, bytes / max(1, width * 3)))
    }

    /// RGB of a rectangle that lies inside the image, packed width × height × 3.
    ///
    /// Every decoding mode writes every byte of the rectangle (blocks and scanlines cover
    /// it, and each copies all three channels), so the storage starts uninitialised rather
    /// than being zeroed first: a tile's worth of memset per read.
    private func readInside(x: Int, y: Int, width: Int, height: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: width * height * 3) { output, count in
            let target = output.baseAddress!
            switch decoder.mode {
            case .openSlide(let level, let background):
                let rgb: [UInt8]
                do {
                    rgb = try openSlide!.readRGB(level: level, x: x, y: y, width: width, height: height, background: background)
                } catch let error as OpenSlideError {
                    throw TesseraError(path, "OpenSlide: \(error.reason) (the slide may be truncated or corrupt)", code: .malformed)
                }
                rgb.withUnsafeBufferPointer { target.initialize(from: $0.baseAddress!, count: rgb.count) }
            case .rgba:
                var raster = [UInt32](repeating: 0, count: width * height)
                try raster.withUnsafeMutableBufferPointer { try tiff.readRGBA(x: x, y: y, width: width, height: height, into: $0) }
                for i in 0..<(width * height) {
                    let word = raster[i]  // ABGR, red in the low byte
                    target[i * 3] = UInt8(truncatingIfNeeded: word)
                    target[i * 3 + 1] = UInt8(truncatingIfNeeded: word >> 8)
                    target[i * 3 + 2] = UInt8(truncatingIfNeeded: word >> 16)
                }
            case .blocks(let layout):
                try copyBlocks(layout, x: x, y: y, width: width, height: height, into: target)
            case .scanlines(let layout):
                try copyScanlines(layout, x: x, y: y, width: width, height: height, into: target)
            }
            count = width * height * 3
        }
    }

    /// Copies from decoded tiles or strips (8-bit, 1–4 samples, either planar layout).
    private func copyBlocks(_ layout: BlockLayout, x: Int, y: Int, width: Int, height: Int, into target: UnsafeMutablePointer<UInt8>) throws {
        let blockColumns = (x / layout.blockWidth)...((x + width - 1) / layout.blockWidth)
        let blockRows = (y / layout.blockHeight)...((y + height - 1) / layout.blockHeight)
        for blockRow in blockRows {
            for blockColumn in blockColumns {
                let bx = blockColumn * layout.blockWidth, by = blockRow * layout.blockHeight
                // The part of the request this block covers.
                let cx0 = max(x, bx), cx1 = min(x + width, bx + layout.blockWidth)
                let cy0 = max(y, by), cy1 = min(y + height, by + layout.blockHeight)
                for plane in 0..<layout.planes {
                    let index =
                        layout.tiled
                        ? tiff.tileIndex(x: bx, y: by, plane: plane)
                        : tiff.stripIndex(y: by, plane: plane)
                    let block = try decodedBlock(index, bytes: layout.blockBytes, tiled: layout.tiled)
                    let stride = layout.planes == 1 ? layout.samples : 1
                    block.withUnsafeBufferPointer { source in
                        for row in cy0..<cy1 {
                            let s = source.baseAddress! + ((row - by) * layout.blockWidth + cx0 - bx) * stride
                            let t = target + ((row - y) * width + cx0 - x) * 3
                            layout.copyRow(from: s, to: t, pixels: cx1 - cx0, plane: plane)
                        }
                    }
                }
            }
        }
    }

    /// Copies from scanlines, for strips too large to decode whole.
    private func copyScanlines(_ layout: BlockLayout, x: Int, y: Int, width: Int, height: Int, into target: UnsafeMutablePointer<UInt8>) throws {
        let stride = layout.planes == 1 ? layout.samples : 1
        for plane in 0..<layout.planes {
            for row in y..<(y + height) {
                let line = try scanline(row, plane: plane, rowsPerStrip: layout.blockHeight)
                line.withUnsafeBufferPointer { line in
                    layout.copyRow(
                        from: line.baseAddress! + x * stride, to: target + (row - y) * width * 3,
                        pixels: width, plane: plane)
                }
            }
        }
    }

    /// Where libtiff's scanline decoder stands: the next row it would decode without restarting.
    private var scanlineCursor: (plane: Int, row: Int)? = nil

    /// One decoded scanline, from the cache or decoded in order: codecs like Deflate cannot
    /// seek inside a strip, so rows are decoded from the cursor (same strip, not behind it)
    /// or from the strip's first row, and every row decoded is cached for overlapping reads.
    private func scanline(_ row: Int, plane: Int, rowsPerStrip: Int) throws -> [UInt8] {
        let key = -1 - (plane * height + row)  // apart from block indices, which are ≥ 0
        if let line = cache.block(key) { return line }
        let stripStart = row / rowsPerStrip * rowsPerStrip
        var next = stripStart
        if let cursor = scanlineCursor, cursor.plane == plane, cursor.row > stripStart, cursor.row <= row { next = cursor.row }
        var line = [UInt8](repeating: 0, count: tiff.scanlineSize)
        while next <= row {
            do {
                try line.withUnsafeMutableBytes { try tiff.readScanline(next, plane: plane, into: $0) }
            } catch let error as TIFFError {
                scanlineCursor = nil
                throw TesseraError(path, error.reason + " (the file may be truncated or corrupt)", code: .malformed)
            }
            cache.insert(-1 - (plane * height + next), line)
            next += 1
            scanlineCursor = (plane, next)
        }
        return line
    }

    private func decodedBlock(_ index: Int, bytes: Int, tiled: Bool) throws -> [UInt8] {
        if let block = cache.block(index) { return block }
        blocksDecoded += 1
        // Decoded into uninitialised storage (zeroing a block first was a memset a block);
        // bytes past a short decode (a short last strip) are zeroed after.
        let block = try [UInt8](unsafeUninitializedCapacity: bytes) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            let read: Int
            do {
                read = tiled ? try tiff.readTile(index, into: raw) : try tiff.readStrip(index, into: raw)
            } catch let error as TIFFError {
                throw TesseraError(path, error.reason + " (the file may be truncated or corrupt)", code: .malformed)
            }
            let decoded = min(max(read, 0), bytes)
            (buffer.baseAddress! + decoded).initialize(repeating: 0, count: bytes - decoded)
            count = bytes
        }
        cache.insert(index, block)
        return block
    }

}
