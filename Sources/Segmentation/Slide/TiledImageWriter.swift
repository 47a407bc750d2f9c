import Core
import Foundation
import TIFF
import Zlib

/// Writes a tiled 8-bit TIFF band by band, so the whole image never sits in memory.
///
/// Rows are appended top to bottom; each time a band of `tileSize` rows is complete its
/// tiles are encoded and written. Reduced copies (a pyramid, as scanners write) can follow
/// as further directories: each the exact area average, rounded, of the blocks it reduces. Used for masks and probability maps (1 channel, Deflate)
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
    /// The image until it is finished (removed if the writer is dropped unfinished).
    private let partial: PartialFile
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
    /// The directory's fields, repeated in the pyramid's.
    private let fields: Fields
    /// The pyramid's levels, accumulated as rows arrive.
    private var levels: [Level]

    private struct Fields {
        let compression: Compression
        let jpegQuality: Int
        let deflateLevel: Int?
        let micronsPerPixel: Double?
        let description: String?
    }

    /// One reduced copy: sums of the block row being gathered, and the rows finished.
    private struct Level {
        let factor: Int
        let width: Int
        let height: Int
        var sums: [UInt32]
        var rowsGathered = 0
        var pixels: [UInt8] = []
    }

    /// Creates the file and writes its header.
    ///
    /// - Parameters:
    ///   - channels: 1 (grey: masks, probabilities) or 3 (RGB).
    ///   - tileSize: tile side, a multiple of 16.
    ///   - micronsPerPixel: written as the resolution (per centimetre) when given.
    ///   - description: written as the ImageDescription when given (e.g. a scanner's).
    ///   - forceBigTIFF: write BigTIFF whatever the size.
    ///   - deflateLevel: 1 (fastest) … 12; libtiff's default (6) when nil.
    ///   - levels: reduction factors (each at least 2, increasing) of the reduced copies
    ///     written after the image; they are held in memory until `finish`.
    public init(
        path: String, width: Int, height: Int, channels: Int, tileSize: Int = 256,
        compression: Compression = .deflate, micronsPerPixel: Double? = nil, description: String? = nil,
        forceBigTIFF: Bool = false, jpegQuality: Int = 90, deflateLevel: Int? = nil, levels: [Int] = []
    ) throws {
        guard width > 0, height > 0 else { throw TesseraError(path, "cannot write an empty \(width)×\(height) image") }
        guard channels == 1 || channels == 3 else { throw TesseraError(path, "images have 1 or 3 channels, not \(channels)") }
        guard tileSize >= 16, tileSize % 16 == 0 else { throw TesseraError(path, "tile size \(tileSize) is not a multiple of 16") }
        guard levels.allSatisfy({ $0 >= 2 }), levels == levels.sorted(), Set(levels).count == levels.count else {
            throw TesseraError(path, "pyramid factors \(levels) must be increasing and at least 2")
        }
        self.levels = levels.map { factor in
            Level(
                factor: factor, width: (width + factor - 1) / factor, height: (height + factor - 1) / factor,
                sums: [UInt32](repeating: 0, count: (width + factor - 1) / factor * channels))
        }
        fields = Fields(
            compression: compression, jpegQuality: jpegQuality, deflateLevel: deflateLevel, micronsPerPixel: micronsPerPixel,
            description: description)
        self.path = path
        partial = try PartialFile(for: path, open: false)
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
            file = try TIFFFile(path: partial.path, mode: big ? "w8" : "w")
            try Self.setFields(of: file, width: width, height: height, channels: channels, tileSize: tileSize, fields: fields, factor: 1)
        } catch let error as TIFFError {
            throw TesseraError(path, error.reason.replacingOccurrences(of: partial.path, with: path), code: .io)
        }
        band = [UInt8](repeating: 0, count: tileSize * width * channels)
        tile = [UInt8](repeating: 0, count: tileSize * tileSize * channels)
    }

    /// The tags of a directory: the image's (`factor` 1) or a reduced copy's.
    private static func setFields(of file: TIFFFile, width: Int, height: Int, channels: Int, tileSize: Int, fields: Fields, factor: Int) throws {
        try file.set(TIFFTag.imageWidth, width)
        try file.set(TIFFTag.imageLength, height)
        if factor > 1 { try file.set(TIFFTag.subfileType, 1) }
        try file.set(TIFFTag.bitsPerSample, 8)
        try file.set(TIFFTag.samplesPerPixel, channels)
        try file.set(TIFFTag.photometric, Int(channels == 3 ? TIFFPhotometric.rgb : TIFFPhotometric.minIsBlack))
        try file.set(TIFFTag.planarConfig, 1)
        try file.set(TIFFTag.tileWidth, tileSize)
        try file.set(TIFFTag.tileLength, tileSize)
        try file.set(TIFFTag.compression, Int(fields.compression.code))
        switch fields.compression {
        case .deflate, .lzw:
            try file.set(TIFFTag.predictor, 2)
            if fields.compression == .deflate, let deflateLevel = fields.deflateLevel { try file.set(TIFFTag.zipQuality, deflateLevel) }
        case .jpeg: try file.set(TIFFTag.jpegQuality, fields.jpegQuality)
        case .none: break
        }
        try file.set(TIFFTag.software, "Tessera")
        if let description = fields.description { try file.set(TIFFTag.imageDescription, description) }
        if let micronsPerPixel = fields.micronsPerPixel, micronsPerPixel > 0 {
            try file.set(TIFFTag.resolutionUnit, 3)
            try file.set(TIFFTag.xResolution, 10_000 / (micronsPerPixel * Double(factor)))
            try file.set(TIFFTag.yResolution, 10_000 / (micronsPerPixel * Double(factor)))
        }
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
            for row in 0..<take {
                gather(
                    UnsafeBufferPointer(rebasing: rows[(offset + row * rowBytes)..<(offset + (row + 1) * rowBytes)]),
                    last: rowsWritten + row + 1 == height)
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
        do {
            for index in levels.indices {
                try file.writeDirectory()
                let level = levels[index]
                try Self.setFields(
                    of: file, width: level.width, height: level.height, channels: channels, tileSize: tileSize,
                    fields: fields, factor: level.factor)
                try writeTiles(of: level.pixels, width: level.width, height: level.height)
            }
            try file.flush()
        } catch let error as TIFFError { throw TesseraError(path, error.reason, code: .io) }
        try partial.commit()
        finished = true
    }

    /// Adds one row of the image to every level's block row, finishing it after `factor`
    /// rows or at the image's last.
    private func gather(_ row: UnsafeBufferPointer<UInt8>, last: Bool) {
        for index in levels.indices {
            let factor = levels[index].factor
            levels[index].sums.withUnsafeMutableBufferPointer { sums in
                for x in 0..<width {
                    for c in 0..<channels { sums[x / factor * channels + c] += UInt32(row[x * channels + c]) }
                }
            }
            levels[index].rowsGathered += 1
            guard levels[index].rowsGathered == factor || last else { continue }
            let rows = levels[index].rowsGathered
            for x in 0..<levels[index].width {
                let count = UInt32(rows * min(factor, width - x * factor))
                for c in 0..<channels {
                    levels[index].pixels.append(UInt8((levels[index].sums[x * channels + c] + count / 2) / count))
                }
            }
            levels[index].sums.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            levels[index].rowsGathered = 0
        }
    }

    /// Writes a whole in-memory image into the current directory, tile by tile.
    private func writeTiles(of pixels: [UInt8], width: Int, height: Int) throws {
        let rowBytes = width * channels, tileRowBytes = tileSize * channels
        for y0 in stride(from: 0, to: height, by: tileSize) {
            for x0 in stride(from: 0, to: width, by: tileSize) {
                let columns = min(tileSize, width - x0), rows = min(tileSize, height - y0)
                tile.withUnsafeMutableBufferPointer { tile in
                    pixels.withUnsafeBufferPointer { source in
                        if columns < tileSize || rows < tileSize { tile.update(repeating: 0) }
                        for row in 0..<rows {
                            (tile.baseAddress! + row * tileRowBytes).update(
                                from: source.baseAddress! + (y0 + row) * rowBytes + x0 * channels,
                                count: columns * channels)
                        }
                    }
                }
                try tile.withUnsafeBytes { try file.writeTile(file.tileIndex(x: x0, y: y0, plane: 0), from: $0) }
            }
        }
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
                throw TesseraError(path, error.reason, code: .io)
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
            let value = tile.first
        else {
            try tile.withUnsafeBytes { try file.writeTile(index, from: $0) }
            return
        }
        if uniformTiles[value] == nil {
            // What the horizontal predictor makes of it: each row's first pixel, then zeros.
            var predicted = [UInt8](repeating: 0, count: tile.count)
            for row in 0..<tileSize {
                for c in 0..<channels { predicted[row * tileSize * channels + c] = value }
            }
            uniformTiles[value] = try Zlib.compress(predicted, level: Int32(min(deflateLevel, 9)))  // zlib's levels end at 9
        }
        try uniformTiles[value]!.withUnsafeBytes { try file.writeRawTile(index, from: $0) }
    }
}
