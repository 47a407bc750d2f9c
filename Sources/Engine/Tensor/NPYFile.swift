import Core
import Foundation

/// NumPy's `.npy` format (version 1.0), little-endian float32: how single-tile outputs are
/// written for comparison with PyTorch.
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
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw TesseraError(path, "cannot write") }
    }
}
