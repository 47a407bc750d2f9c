import Foundation

@testable import Engine

/// The PyTorch outputs of tools/make_engine_goldens.py.
enum Golden {
    static let directory = Bundle.module.path(forResource: "Goldens", ofType: nil)!

    static let shapes: [String: [Int]] = {
        let data = FileManager.default.contents(atPath: directory + "/manifest.json")!
        return try! JSONDecoder().decode([String: [Int]].self, from: data)
    }()

    /// A golden tensor (shape C, H, W).
    static func tensor(_ name: String) -> Tensor {
        let shape = shapes[name]!
        let data = FileManager.default.contents(atPath: directory + "/\(name).bin")!
        let values = data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
        }
        return Tensor(channels: shape[0], height: shape[1], width: shape[2], data: values)
    }
}
