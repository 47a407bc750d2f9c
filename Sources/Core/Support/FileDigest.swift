import Foundation

/// Digests that identify files: FNV-1a 64, in hex.
public enum FileDigest {
    /// The digest of the whole file (weights: every byte matters).
    public static func full(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TesseraError(path, "cannot open", code: .io) }
        defer { try? handle.close() }
        var hash = FNV1a()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hash.add(data) }
        return hash.hex
    }

    /// Whether `path` is an absolute path to a regular file: only such a file is read in
    /// place (a FIFO or device named by a peer would block or never end).
    public static func isRegularFile(_ path: String) -> Bool {
        guard path.hasPrefix("/"), let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return false }
        return attributes[.type] as? FileAttributeType == .typeRegular
    }

    /// A quick digest of a large file: its size and three 1 MiB samples (start, middle,
    /// end). Enough to tell whether two machines see the same slide at a path.
    public static func sampled(_ path: String) throws -> (size: UInt64, digest: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TesseraError(path, "cannot open", code: .io) }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        var hash = FNV1a()
        hash.add(Data(String(size).utf8))
        let sample: UInt64 = 1 << 20
        for offset in [0, size / 2, size > sample ? size - sample : 0] {
            try handle.seek(toOffset: offset)
            if let data = try handle.read(upToCount: Int(sample)) { hash.add(data) }
        }
        return (size, hash.hex)
    }

    struct FNV1a {
        var value: UInt64 = 0xCBF2_9CE4_8422_2325
        mutating func add(_ data: Data) {
            data.withUnsafeBytes { bytes in
                for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            }
        }
        var hex: String { String(value, radix: 16).leftPadded(to: 16) }
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
