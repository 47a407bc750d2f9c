import CTIFF

/// The TIFF tags and tag values Tessera reads or writes, with their numbers from the
/// TIFF 6.0 specification (and libtiff's pseudo-tags), so no C macro escapes this module.
public enum TIFFTag {
    public static let subfileType: UInt32 = 254
    public static let imageWidth: UInt32 = 256
    public static let imageLength: UInt32 = 257
    public static let bitsPerSample: UInt32 = 258
    public static let compression: UInt32 = 259
    public static let photometric: UInt32 = 262
    public static let imageDescription: UInt32 = 270
    public static let samplesPerPixel: UInt32 = 277
    public static let rowsPerStrip: UInt32 = 278
    public static let xResolution: UInt32 = 282
    public static let yResolution: UInt32 = 283
    public static let planarConfig: UInt32 = 284
    public static let resolutionUnit: UInt32 = 296
    public static let software: UInt32 = 305
    public static let predictor: UInt32 = 317
    public static let tileWidth: UInt32 = 322
    public static let tileLength: UInt32 = 323
    public static let subIFD: UInt32 = 330
    public static let extraSamples: UInt32 = 338
    public static let sampleFormat: UInt32 = 339
    public static let jpegQuality: UInt32 = 65537
    public static let jpegColorMode: UInt32 = 65538
    public static let zipQuality: UInt32 = 65557
}

/// Compression schemes by their TIFF code.
public enum TIFFCompression: UInt16, Sendable, CaseIterable {
    case none = 1
    case ccittRLE = 2
    case ccittFax3 = 3
    case ccittFax4 = 4
    case lzw = 5
    case oldJPEG = 6
    case jpeg = 7
    case adobeDeflate = 8
    case packBits = 32773
    case deflate = 32946
    case jpeg2000 = 34712
    case lzma = 34925
    case zstd = 50000
    case webp = 50001

    /// A name for people.
    public var name: String {
        switch self {
        case .none: "none"
        case .ccittRLE: "CCITT RLE"
        case .ccittFax3: "CCITT Fax3"
        case .ccittFax4: "CCITT Fax4"
        case .lzw: "LZW"
        case .oldJPEG: "old-style JPEG"
        case .jpeg: "JPEG"
        case .adobeDeflate, .deflate: "Deflate"
        case .packBits: "PackBits"
        case .jpeg2000: "JPEG 2000"
        case .lzma: "LZMA"
        case .zstd: "Zstandard"
        case .webp: "WebP"
        }
    }

    /// A name for a compression code, known or not.
    public static func name(of code: UInt16) -> String {
        TIFFCompression(rawValue: code)?.name ?? "unknown (\(code))"
    }

    /// Whether this libtiff build can decode and encode the scheme.
    public static func isConfigured(_ code: UInt16) -> Bool {
        TIFFIsCODECConfigured(code) != 0
    }
}

/// Photometric interpretations by their TIFF code.
public enum TIFFPhotometric {
    public static let minIsWhite: UInt16 = 0
    public static let minIsBlack: UInt16 = 1
    public static let rgb: UInt16 = 2
    public static let palette: UInt16 = 3
    public static let mask: UInt16 = 4
    public static let separated: UInt16 = 5
    public static let yCbCr: UInt16 = 6
    public static let cieLab: UInt16 = 8

    public static func name(of code: UInt16) -> String {
        switch code {
        case minIsWhite: "min-is-white"
        case minIsBlack: "min-is-black"
        case rgb: "RGB"
        case palette: "palette"
        case mask: "transparency mask"
        case separated: "separated (CMYK)"
        case yCbCr: "YCbCr"
        case cieLab: "CIE L*a*b*"
        default: "unknown (\(code))"
        }
    }
}
