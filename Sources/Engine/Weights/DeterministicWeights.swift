import Core
import Foundation

/// Parameters made up from their names: the same values as tools/engine_reference.py's
/// `value_for`, so Swift and PyTorch models agree without any weight file. For golden
/// tests and for benchmarks of models whose trained weights are not at hand.
public final class DeterministicWeights: WeightSource {
    public private(set) var taken: [String: [Int]] = [:]

    public init() {}

    public func take(_ key: String, shape: [Int]) throws -> [Float] {
        taken[key] = shape
        return Self.values(key, shape: shape)
    }

    public func finish(ignoring: Set<String>) throws {}

    /// Writes the deterministic weights of `architecture` as a .safetensors file (benchmarks
    /// and tests), returning the keys and shapes written.
    @discardableResult
    public static func write(architecture: String, to path: String) throws -> [(key: String, shape: [Int])] {
        try write(try Architecture(named: architecture), to: path)
    }

    /// Writes the deterministic weights of `architecture` (see `write(architecture:to:)`).
    @discardableResult
    public static func write(_ architecture: Architecture, to path: String) throws -> [(key: String, shape: [Int])] {
        // With the keys the PyTorch module holds and the network never uses: PyTorch loads
        // the file with strict=True.
        let shapes = architecture.parameterShapes + architecture.unusedParameterShapes
        try SafeTensors.write(shapes.map { ($0.key, $0.shape, values($0.key, shape: $0.shape)) }, to: path)
        return shapes
    }

    /// FNV-1a 64 of the key's UTF-8 bytes seeds SplitMix64; values in [-1, 1) are then
    /// shaped by the kind of parameter the key names.
    public static func values(_ key: String, shape: [Int]) -> [Float] {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.utf8 { seed = (seed ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        let count = shape.reduce(1, *)
        var generator = SplitMix64(seed: seed)
        var values = [Float](repeating: 0, count: count)
        let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1
        let scale = Float(Double(fanIn).squareRoot())
        enum Rule { case variance, shift, gain, conv }
        let rule: Rule =
            key.hasSuffix("running_var")
            ? .variance
            : key.hasSuffix("running_mean") || key.hasSuffix("bias")
                ? .shift
                : (key.hasSuffix(".weight") && shape.count == 1) || key.hasSuffix("weight_g") ? .gain : .conv
        for i in 0..<count {
            let u = generator.nextSigned()
            switch rule {
            case .variance: values[i] = 1 + 0.5 * abs(u)
            case .shift: values[i] = 0.1 * u
            case .gain: values[i] = 1 + 0.1 * u
            case .conv: values[i] = u / scale
            }
        }
        return values
    }
}
