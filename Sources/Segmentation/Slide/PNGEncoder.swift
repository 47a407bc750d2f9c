import Core
import Foundation
import Zlib

/// Encodes 8-bit RGB or grey images as PNG (RFC 2083), for quick looks at results.
public enum PNGEncoder {
    /// The PNG bytes of `image` (1 or 3 channels).
    public static func encode(_ image: PixelImage) throws -> [UInt8] {
        precondition(image.channels == 1 || image.channels == 3)
        var raw: [UInt8] = []
        raw.reserveCapacity((image.width * image.channels + 1) * image.height)
        let rowBytes = image.width * image.channels
        for y in 0..<image.height {
            raw.append(0)  // filter: none
            raw += image.pixels[(y * rowBytes)..<((y + 1) * rowBytes)]
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
        header += [8, image.channels == 3 ? 2 : 0, 0, 0, 0]
        png += chunk("IHDR", header)
        png += chunk("IDAT", try Zlib.compress(raw))
        png += chunk("IEND", [])
        return png
    }

    /// Writes `image` as a PNG file.
    public static func write(_ image: PixelImage, to path: String) throws {
        let bytes = try encode(image)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw TesseraError(path, "cannot write the file", code: .io)
        }
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(Zlib.crc32(typed))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
