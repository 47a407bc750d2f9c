import Core
import Foundation

/// NumPy's `.npy` format: single-tile outputs are written (version 1.0, float32) for
/// comparison with PyTorch, and training batches read.
public enum NPYFile {
    /// Writes `tensor` with shape (channels, height, width).
    public static func write(_ tensor: Tensor, to path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(tensor.channels), \(tensor.height), \(tensor.width)), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        for value in tensor.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw TesseraError(path, "cannot write", code: .io) }
    }
}

extension NPYFile {
    /// An array read from a `.npy` file: its shape and its values as floats.
    public struct Contents: Sendable {
        public let shape: [Int]
        public let values: [Float]
    }

    /// Reads a C-ordered little-endian array of float32, float64, uint8 or bool (versions
    /// 1–3), converting values to float; anything else is an error naming the file.
    public static func read(_ path: String) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: path) else { throw TesseraError(path, "cannot read", code: .io) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw TesseraError(path, "not a .npy file", code: .malformed)
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3, bytes.count >= 12 {
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        } else {
            throw TesseraError(path, ".npy version \(major) is not supported", code: .unsupported)
        }
        guard headerStart + headerLength <= bytes.count,
            let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else {
            throw TesseraError(path, "truncated .npy header", code: .malformed)
        }
        func field(_ name: String) -> String? {
            guard let key = header.range(of: "'\(name)':") else { return nil }
            return String(header[key.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = field("descr").flatMap({ $0.split(separator: "'").first.map(String.init) }) else {
            throw TesseraError(path, "no dtype in the .npy header", code: .malformed)
        }
        if field("fortran_order")?.hasPrefix("True") == true { throw TesseraError(path, "Fortran-ordered arrays are not supported", code: .unsupported) }
        guard let shapeText = field("shape"), let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")") else {
            throw TesseraError(path, "no shape in the .npy header", code: .malformed)
        }
        let shape = try shapeText[shapeText.index(after: open)..<close].split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 0 else { throw TesseraError(path, "bad shape \(shapeText)", code: .malformed) }
            return n
        }
        let count = shape.reduce(1, *)
        let body = headerStart + headerLength
        let width: Int
        switch descr {
        case "<f4": width = 4
        case "<f8": width = 8
        case "|u1", "|b1": width = 1
        default: throw TesseraError(path, "dtype \(descr) is not supported (float32, float64, uint8 or bool)", code: .unsupported)
        }
        guard bytes.count - body == count * width else {
            throw TesseraError(path, "\(bytes.count - body) bytes of data for shape \(shape) of \(descr)")
        }
        let values: [Float] = bytes.withUnsafeBytes { raw in
            (0..<count).map { i in
                switch width {
                case 4: Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: body + 4 * i, as: UInt32.self)))
                case 8: Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: body + 8 * i, as: UInt64.self))))
                default: Float(raw[body + i])
                }
            }
        }
        return Contents(shape: shape, values: values)
    }
}
