import Core
import Foundation
import OpenSlide
import TIFF

/// Where an image lives: a TIFF directory (a top-level page, or a sub-IFD of one), or a
/// level of a slide OpenSlide reads.
public enum DirectoryLocation: Sendable, Equatable, CustomStringConvertible {
    case page(Int)
    case subIFD(page: Int, index: Int, offset: UInt64)
    case openSlideLevel(Int)

    public var description: String {
        switch self {
        case .page(let page): "page \(page)"
        case .subIFD(let page, let index, _): "page \(page) sub-IFD \(index)"
        case .openSlideLevel(let level): "OpenSlide level \(level)"
        }
    }
}

/// What one TIFF directory holds: its size, sample layout, storage and compression.
public struct SlideDirectory: Sendable, Equatable {
    public var location: DirectoryLocation
    public var width: Int
    public var height: Int
    public var samplesPerPixel: Int
    public var bitsPerSample: Int
    /// 1 unsigned integer, 2 signed integer, 3 IEEE float (TIFF SampleFormat).
    public var sampleFormat: Int
    public var photometric: UInt16
    public var compression: UInt16
    /// 1 contiguous (RGBRGB…), 2 separate planes (RRR…GGG…BBB…).
    public var planarConfig: Int
    /// Tile width and height when tiled, nil when stored in strips.
    public var tileSize: (width: Int, height: Int)?
    /// Rows per strip when stripped.
    public var rowsPerStrip: Int?
    /// Extra-sample kinds (0 unspecified, 1 associated alpha, 2 unassociated alpha).
    public var extraSamples: [UInt16]
    /// NewSubfileType: bit 0 set means a reduced-resolution copy.
    public var subfileType: UInt32
    /// Micrometres per pixel along x, from the resolution tags or the image description
    /// (`pixelSizeSource` says which).
    public var micronsPerPixel: Double?
    /// Where `micronsPerPixel` was read: "Aperio MPP", "TIFF resolution tags", "OME-XML PhysicalSizeX"
    /// or "openslide.mpp-x property (OpenSlide)".
    public var pixelSizeSource: String?
    /// The OpenSlide vendor ("mirax", "hamamatsu", …) of a level OpenSlide reads; nil for libtiff's.
    public var vendor: String?

    public static func == (a: SlideDirectory, b: SlideDirectory) -> Bool {
        a.location == b.location && a.width == b.width && a.height == b.height
    }

    /// Level `level` of a slide OpenSlide reads: 8-bit RGB, in 256-pixel tiles as far as
    /// anyone reading it can tell.
    init(openSlide slide: OpenSlide, level: Int, vendor: String) {
        location = .openSlideLevel(level)
        (width, height) = slide.dimensions(level: level)
        samplesPerPixel = 3
        bitsPerSample = 8
        sampleFormat = 1
        photometric = TIFFPhotometric.rgb
        compression = 0
        planarConfig = 1
        tileSize = (256, 256)
        rowsPerStrip = nil
        extraSamples = []
        subfileType = level > 0 ? 1 : 0
        self.vendor = vendor
        if level == 0, let mpp = slide.property("openslide.mpp-x").flatMap(Double.init), mpp > 0, mpp.isFinite {
            (micronsPerPixel, pixelSizeSource) = (mpp, "openslide.mpp-x property (OpenSlide)")
        }
    }

    /// Reads the description of the current directory of `file`.
    init(reading file: TIFFFile, at location: DirectoryLocation) {
        self.location = location
        width = Int(file.uint32(TIFFTag.imageWidth) ?? 0)
        height = Int(file.uint32(TIFFTag.imageLength) ?? 0)
        samplesPerPixel = Int(file.uint16Defaulted(TIFFTag.samplesPerPixel) ?? 1)
        bitsPerSample = Int(file.uint16Defaulted(TIFFTag.bitsPerSample) ?? 1)
        sampleFormat = Int(file.uint16Defaulted(TIFFTag.sampleFormat) ?? 1)
        photometric = file.uint16(TIFFTag.photometric) ?? (samplesPerPixel >= 3 ? TIFFPhotometric.rgb : TIFFPhotometric.minIsBlack)
        compression = file.uint16Defaulted(TIFFTag.compression) ?? 1
        planarConfig = Int(file.uint16Defaulted(TIFFTag.planarConfig) ?? 1)
        if file.isTiled {
            tileSize = (Int(file.uint32(TIFFTag.tileWidth) ?? 0), Int(file.uint32(TIFFTag.tileLength) ?? 0))
            rowsPerStrip = nil
        } else {
            tileSize = nil
            rowsPerStrip = Int(min(file.uint32(TIFFTag.rowsPerStrip) ?? UInt32.max, UInt32(max(height, 1))))
        }
        extraSamples = file.extraSamples()
        subfileType = file.uint32(TIFFTag.subfileType) ?? 0
        (micronsPerPixel, pixelSizeSource) = Self.resolution(file).map { ($0.value, $0.source) } ?? (nil, nil)
    }

    /// µm per pixel and where it was read: an Aperio ImageDescription's `MPP = …` first (as
    /// OpenSlide reads Aperio slides, whose resolution tags are absent or placeholders), then
    /// XResolution and ResolutionUnit (inch or cm), then an OME-XML `PhysicalSizeX` in the
    /// ImageDescription (µm unless another unit is named).
    private static func resolution(_ file: TIFFFile) -> (value: Double, source: String)? {
        let description = file.string(TIFFTag.imageDescription)
        if let description, let mpp = aperioMPP(description) { return (mpp, "Aperio MPP") }
        if let resolution = file.float(TIFFTag.xResolution), resolution > 0,
            let unit = file.uint16(TIFFTag.resolutionUnit), unit == 2 || unit == 3
        {
            let micronsPerUnit = unit == 2 ? 25_400.0 : 10_000.0
            let value = micronsPerUnit / Double(resolution)
            // Resolution 1 or 72 per inch is a placeholder many writers put there.
            if !(unit == 2 && (resolution == 72 || resolution == 1)) { return (value, "TIFF resolution tags") }
        }
        return description.flatMap(omePhysicalSizeX).map { ($0, "OME-XML PhysicalSizeX") }
    }

    /// `MPP = 0.4990` among the `|`-separated fields of an ImageDescription that starts with
    /// "Aperio" (Aperio's SVS and TIFF), when positive and finite.
    static func aperioMPP(_ description: String) -> Double? {
        guard description.hasPrefix("Aperio") else { return nil }
        for field in description.split(separator: "|") {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "MPP",
                let value = Double(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)), value > 0, value.isFinite
            else { continue }
            return value
        }
        return nil
    }

    /// OME-XML's `PhysicalSizeX` in µm.
    private static func omePhysicalSizeX(_ description: String) -> Double? {
        guard let range = description.range(of: "PhysicalSizeX=\"") else { return nil }
        let rest = description[range.upperBound...]
        guard let end = rest.firstIndex(of: "\""), let value = Double(rest[..<end]), value > 0, value.isFinite else { return nil }
        if let unitRange = description.range(of: "PhysicalSizeXUnit=\"") {
            let unitRest = description[unitRange.upperBound...]
            let unit = unitRest.prefix(while: { $0 != "\"" })
            switch unit {
            case "nm": return value / 1000
            case "mm": return value * 1000
            case "cm": return value * 10_000
            default: break
            }
        }
        return value
    }

    /// The compression's name, e.g. "Deflate".
    public var compressionName: String { vendor.map { "read by OpenSlide (\($0))" } ?? TIFFCompression.name(of: compression) }

    /// A one-line description for `tessera inspect`.
    public var summary: String {
        var parts = ["\(width)×\(height)", "\(samplesPerPixel) samples/pixel", "\(bitsPerSample) bits"]
        switch sampleFormat {
        case 2: parts.append("signed")
        case 3: parts.append("float")
        default: break
        }
        parts.append(TIFFPhotometric.name(of: photometric))
        if let tile = tileSize {
            parts.append("tiled \(tile.width)×\(tile.height)")
        } else {
            parts.append("strips of \(rowsPerStrip ?? height) rows")
        }
        parts.append("compression \(compressionName)")
        parts.append(planarConfig == 2 ? "planar separate" : "planar contiguous")
        if !extraSamples.isEmpty { parts.append("extra samples \(extraSamples)") }
        if subfileType & 1 != 0 { parts.append("reduced resolution") }
        if let micronsPerPixel { parts.append(String(format: "%.4g µm/pixel", micronsPerPixel)) }
        return parts.joined(separator: ", ")
    }
}
