import Core
import Foundation
import TIFF
import Zlib

/// Writes a tiled 8-bit TIFF band by band, so the whole image never sits in memory.
///
/// Rows are appended top to bottom; each time a band of `tileSize` rows is complete its
/// tiles are encoded and written. Used for masks and probability maps (1 channel, Deflate)
/// and for synthetic slides (3 channels, Deflate or JPEG). Switches to BigTIFF by itself
/// when the image could pass the 4 GiB classic-TIFF limit.
///
/// The file appears at `path` only when `finish()` succeeds: until then it is written to a
/// hidden `.NAME.partial-PID` beside it, removed if the writer is dropped unfinished, so a
/// failed or interrupted run never leaves a truncated image that looks complete.
public final class TiledImageWriter {
    /// Compression of the written tiles.
    public enum Compression: String, Sendable, CaseIterable {
        case none, deflate, lzw, jpeg
        var code: UInt16 {
            switch self {
            case .none: TIFFCompression.none.rawValue
            case .deflate: TIFFCompression.adobeDeflate.rawValue
            case .lzw: TIFFCompression.lzw.rawValue
            case .jpeg: TIFFCompression.jpeg.rawValue
            }
        }
    }

    public let path: String
    /// Where the image is written until it is finished.
    private let partialPath: String
    public let width: Int
    public let height: Int
    public let channels: Int
    public let tileSize: Int
    private let file: TIFFFile
    private var band: [UInt8]
    private var bandRows = 0
    private var bandIndex = 0
    private var finished = false
    private var tile: [UInt8]
    private let compression: Compression
    private let deflateLevel: Int
    /// Deflate-encoded tiles of one byte value throughout, by value (see `writeTile`).
    private var uniformTiles: [UInt8: [UInt8]] = [:]

    /// Creates the file and writes its header.
    ///
    /// - Parameters:
    ///   - channels: 1 (grey: masks, probabilities) or 3 (RGB).
    ///   - tileSize: tile side, a multiple of 16.
    ///   - micronsPerPixel: written as the resolution (per centimetre) when given.
    ///   - description: written as the ImageDescription when given (e.g. a scanner's).
    ///   - forceBigTIFF: write BigTIFF whatever the size.
    ///   - deflateLevel: 1 (fastest) … 12; libtiff's default (6) when nil.
    public init(path: String, width: Int, height: Int, channels: Int, tileSize: Int = 256,
                compression: Compression = .deflate, micronsPerPixel: Double? = nil, description: String? = nil,
                forceBigTIFF: Bool = false, jpegQuality: Int = 90, deflateLevel: Int? = nil) throws {
        guard width > 0, height > 0 else { throw TesseraError(path, "cannot write an empty \(width)×\(height) image") }
        guard channels == 1 || channels == 3 else { throw TesseraError(path, "images have 1 or 3 channels, not \(channels)") }
        guard tileSize >= 16, tileSize % 16 == 0 else { throw TesseraError(path, "tile size \(tileSize) is not a multiple of 16") }
        self.path = path
        let url = URL(fileURLWithPath: path)
        partialPath = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        self.width = width
        self.height = height
        self.channels = channels
        self.tileSize = tileSize
        self.compression = compression
        self.deflateLevel = deflateLevel ?? 6
        // Tiles are padded to whole tiles; leave ample room for headers and offsets.
        let paddedBytes = ((width + tileSize - 1) / tileSize) * ((height + tileSize - 1) / tileSize) * tileSize * tileSize * channels
        let big = forceBigTIFF || paddedBytes > (1 << 32) - (64 << 20)
        do {
            file = try TIFFFile(path: partialPath, mode: big ? "w8" : "w")
            try file.set(TIFFTag.imageWidth, width)
            try file.set(TIFFTag.imageLength, height)
            try file.set(TIFFTag.bitsPerSample, 8)
            try file.set(TIFFTag.samplesPerPixel, channels)
            try file.set(TIFFTag.photometric, Int(channels == 3 ? TIFFPhotometric.rgb : TIFFPhotometric.minIsBlack))
            try file.set(TIFFTag.planarConfig, 1)
            try file.set(TIFFTag.tileWidth, tileSize)
            try file.set(TIFFTag.tileLength, tileSize)
            try file.set(TIFFTag.compression, Int(compression.code))
            switch compression {
            case .deflate, .lzw:
                try file.set(TIFFTag.predictor, 2)
                if compression == .deflate, let deflateLevel { try file.set(TIFFTag.zipQuality, deflateLevel) }
            case .jpeg: try file.set(TIFFTag.jpegQuality, jpegQuality)
            case .none: break
            }
            try file.set(TIFFTag.software, "Tessera")
            if let description { try file.set(TIFFTag.imageDescription, description) }
            if let micronsPerPixel, micronsPerPixel > 0 {
                try file.set(TIFFTag.resolutionUnit, 3)
                try file.set(TIFFTag.xResolution, 10_000 / micronsPerPixel)
                try file.set(TIFFTag.yResolution, 10_000 / micronsPerPixel)
            }
        } catch let error as TIFFError {
            unlink(partialPath)
            throw TesseraError(path, error.reason.replacingOccurrences(of: partialPath, with: path))
        }
        band = [UInt8](repeating: 0, count: tileSize * width * channels)
        tile = [UInt8](repeating: 0, count: tileSize * tileSize * channels)
    }

    /// The number of rows appended so far.
    public private(set) var rowsWritten = 0

    /// Appends whole rows, `rows.count` a multiple of `width * channels`.
    public func append(rows: UnsafeBufferPointer<UInt8>) throws {
        let rowBytes = width * channels
        precondition(rows.count % rowBytes == 0, "rows must be whole")
        var offset = 0
        while offset < rows.count {
            guard rowsWritten < height else { throw TesseraError(path, "more rows than the image's \(height)") }
            let take = min((rows.count - offset) / rowBytes, tileSize - bandRows, height - rowsWritten)
            band.withUnsafeMutableBufferPointer { target in
                let destination = UnsafeMutableBufferPointer(rebasing: target[(bandRows * rowBytes)...])
                _ = destination.initialize(from: rows[offset..<(offset + take * rowBytes)])
            }
            bandRows += take
            rowsWritten += take
            offset += take * rowBytes
            if bandRows == tileSize || rowsWritten == height { try flushBand() }
        }
    }

    /// Appends whole rows from an array.
    public func append(rows: [UInt8]) throws {
        try rows.withUnsafeBufferPointer { try append(rows: $0) }
    }

    /// Writes the last band and the directory. Every row must have been appended.
    public func finish() throws {
        guard !finished else { return }
        guard rowsWritten == height else {
            throw TesseraError(path, "only \(rowsWritten) of \(height) rows were written")
        }
        do { try file.flush() } catch let error as TIFFError { throw TesseraError(path, error.reason) }
        guard rename(partialPath, path) == 0 else {
            throw TesseraError(path, "cannot move the finished file into place: \(String(cString: strerror(errno)))")
        }
        finished = true
    }

    deinit {
        if !finished { unlink(partialPath) }
    }

    private func flushBand() throws {
        let rowBytes = width * channels
        let tileRowBytes = tileSize * channels
        for tileColumn in 0..<((width + tileSize - 1) / tileSize) {
            let x0 = tileColumn * tileSize
            let columns = min(tileSize, width - x0)
            tile.withUnsafeMutableBufferPointer { tile in
                band.withUnsafeBufferPointer { band in
                    if columns < tileSize || bandRows < tileSize { tile.update(repeating: 0) }
                    for row in 0..<bandRows {
                        (tile.baseAddress! + row * tileRowBytes).update(from: band.baseAddress! + row * rowBytes + x0 * channels, count: columns * channels)
                    }
                }
            }
            let index = file.tileIndex(x: x0, y: bandIndex * tileSize, plane: 0)
            do {
                try writeTile(index)
            } catch let error as TIFFError {
                throw TesseraError(path, error.reason)
            }
        }
        bandIndex += 1
        bandRows = 0
    }

    /// Writes `tile` at `index`. A Deflate tile of one byte value throughout — most of a
    /// mask: background, or inside a large structure — is encoded once per value and then
    /// written as it is, skipping libtiff's predictor and compressor, which took a fifth of
    /// a cluster coordinator's time. The pixels read back are the same.
    private func writeTile(_ index: Int) throws {
        // All bytes are equal when the tile equals itself shifted by one byte.
        guard compression == .deflate, tile.withUnsafeBytes({ memcmp($0.baseAddress!, $0.baseAddress! + 1, $0.count - 1) == 0 }),
              let value = tile.first else {
            try tile.withUnsafeBytes { try file.writeTile(index, from: $0) }
            return
        }
        if uniformTiles[value] == nil {
            // What the horizontal predictor makes of it: each row's first pixel, then zeros.
            var predicted = [UInt8](repeating: 0, count: tile.count)
            for row in 0..<tileSize {
                for c in 0..<channels { predicted[row * tileSize * channels + c] = value }
            }
            uniformTiles[value] = try Zlib.compress(predicted, level: Int32(min(deflateLevel, 9))) // zlib's levels end at 9
        }
        try uniformTiles[value]!.withUnsafeBytes { try file.writeRawTile(index, from: $0) }
    }
}
