import Core
import Foundation

/// A model's tensors by PyTorch state_dict key, in one flat buffer of values and one of
/// gradients, so that the optimiser, checkpoints and an all-reduce each see one contiguous
/// array (llm.c's layout). Batch norms' running statistics are buffers: stored, saved and
/// loaded, never trained. As a `WeightSource` it builds the inference network from what
/// training holds, with the same checks as a file.
public final class ParameterStore: WeightSource {
    public struct Entry: Sendable, Equatable {
        public let key: String
        public let shape: [Int]
        /// Where its values lie in `values` (and its gradient in `gradients`).
        public let range: Range<Int>
        /// Trained (false for running statistics).
        public let isParameter: Bool
        /// Whether weight decay applies: not to biases and norms' gains (tensors of one
        /// dimension), nor to buffers.
        public let decays: Bool
    }

    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    public var values: [Float]
    public var gradients: [Float]
    private var taken: Set<String> = []

    /// A store of zeros for `shapes`, in their order.
    public init(shapes: [(key: String, shape: [Int])]) {
        var offset = 0
        for (key, shape) in shapes {
            let count = shape.reduce(1, *)
            let isParameter = !(key.hasSuffix(".running_mean") || key.hasSuffix(".running_var"))
            index[key] = entries.count
            entries.append(
                Entry(
                    key: key, shape: shape, range: offset..<(offset + count), isParameter: isParameter,
                    decays: isParameter && shape.count > 1))
            offset += count
        }
        values = [Float](repeating: 0, count: offset)
        gradients = values
    }

    /// The store of a CNN architecture, in the order the network loads its keys.
    public convenience init(architecture: Architecture) {
        self.init(shapes: architecture.parameterShapes)
    }

    /// The store of the architecture called `architecture`.
    public convenience init(architecture: String) throws {
        self.init(architecture: try Architecture(named: architecture))
    }

    /// Fills every tensor from `source` (a weights file, or deterministic weights); the
    /// source may also hold the `ignoring` keys (a classification head the U-Net never uses).
    public func load(from source: WeightSource, ignoring: Set<String> = []) throws {
        for entry in entries { values.replaceSubrange(entry.range, with: try source.take(entry.key, shape: entry.shape)) }
        try source.finish(ignoring: ignoring)
    }

    /// The entry of `key`, if the store has it.
    public func entry(_ key: String) -> Entry? { index[key].map { entries[$0] } }

    /// Writes every tensor as safetensors with its PyTorch key, atomically: to a temporary
    /// file beside `path`, then renamed over it, so a crash never leaves half a checkpoint.
    public func write(to path: String, metadata: [String: String] = [:]) throws {
        try AtomicFile.write(try SafeTensors.encode(entries.map { ($0.key, $0.shape, Array(values[$0.range])) }, metadata: metadata), to: path)
    }

    // MARK: WeightSource

    public func take(_ key: String, shape: [Int]) throws -> [Float] {
        guard let entry = entry(key) else { throw TesseraError("parameters", "missing weight \(key) (shape \(shape))", code: .notFound) }
        guard entry.shape == shape else {
            throw TesseraError("parameters", "weight \(key) has shape \(entry.shape), the model needs \(shape)", code: .mismatch)
        }
        taken.insert(key)
        return Array(values[entry.range])
    }

    public func finish(ignoring: Set<String>) throws {
        let unused = entries.map(\.key).filter { !taken.contains($0) && !ignoring.contains($0) }
        taken.removeAll()
        guard unused.isEmpty else {
            throw TesseraError("parameters", "\(unused.count) weights the model does not use, e.g. \(unused.prefix(3))", code: .mismatch)
        }
    }
}
