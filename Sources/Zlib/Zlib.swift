import CZlib

/// zlib's compression and checksums, with no C type in the interface.
public enum Zlib {
    /// An error zlib reported, with its code.
    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { "zlib error \(code)" }
    }

    /// Compresses `bytes` into a zlib stream (RFC 1950) at `level` (0–9).
    /// The corresponding C function is `compress2`.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var capacity = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(capacity))
        let status = compress2(&output, &capacity, bytes, uLong(bytes.count), level)
        guard status == Z_OK else { throw Failure(code: status) }
        output.removeSubrange(Int(capacity)...)
        return output
    }

    /// Decompresses a zlib stream whose decompressed size is known.
    /// The corresponding C function is `uncompress`.
    public static func decompress(_ bytes: [UInt8], size: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var length = uLong(size)
        let status = uncompress(&output, &length, bytes, uLong(bytes.count))
        guard status == Z_OK, Int(length) == size else { throw Failure(code: status == Z_OK ? Z_DATA_ERROR : status) }
        return output
    }

    /// The CRC-32 of `bytes`, continuing from `previous` (PNG chunk checksums).
    public static func crc32(_ bytes: [UInt8], previous: UInt32 = 0) -> UInt32 {
        UInt32(CZlib.crc32(uLong(previous), bytes, uInt(bytes.count)))
    }
}
