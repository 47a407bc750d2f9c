import Core
import Foundation

/// Where a model's parameters come from, by PyTorch state_dict key.
///
/// Models ask for each key with the shape they expect; the source checks the shape and
/// records the key, and `finish` then reports keys the model never asked for. So loading
/// fails — naming the key and both shapes — on any missing, unused or misshapen tensor.
public protocol WeightSource: AnyObject {
    /// The values of `key`, which must have exactly `shape`.
    func take(_ key: String, shape: [Int]) throws -> [Float]
    /// Fails when the source holds keys that were never taken, other than `ignoring`.
    func finish(ignoring: Set<String>) throws
}

/// Parameters from a `.safetensors` file with PyTorch state_dict names.
public final class SafeTensorsWeights: WeightSource {
    public let file: SafeTensors
    private var taken: Set<String> = []
    /// A prefix stripped from every key in the file (checkpoints saved from wrappers).
    private let prefix: String

    public convenience init(path: String) throws {
        try self.init(file: try SafeTensors(path: path))
    }

    /// Parameters from safetensors bytes in memory (`name` names them in errors).
    public convenience init(data: Data, name: String) throws {
        try self.init(file: try SafeTensors(data: data, path: name))
    }

    private init(file: SafeTensors) throws {
        self.file = file
        // Checkpoints saved through DataParallel or a Lightning module carry a prefix.
        let names = file.names
        prefix = ["module.", "model."].first { p in !names.isEmpty && names.allSatisfy { $0.hasPrefix(p) } } ?? ""
    }

    public func take(_ key: String, shape: [Int]) throws -> [Float] {
        let name = prefix + key
        guard let entry = file.entries[name] else {
            throw TesseraError(file.path, "missing weight \(key) (shape \(shape)): are these the weights of another architecture?", code: .notFound)
        }
        guard entry.shape == shape else {
            throw TesseraError(file.path, "weight \(key) has shape \(entry.shape), the model needs \(shape)", code: .mismatch)
        }
        let values = try file.floats(name)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw TesseraError(file.path, "weight \(key) holds \(values[bad]) at index \(bad)")
        }
        taken.insert(name)
        return values
    }

    public func finish(ignoring: Set<String>) throws {
        // Batch norms' step counters are training state, never weights.
        let unused = file.names.filter {
            !taken.contains($0) && !ignoring.contains(String($0.dropFirst(prefix.count))) && !$0.hasSuffix(".num_batches_tracked")
        }
        guard unused.isEmpty else {
            throw TesseraError(
                file.path,
                "\(unused.count) weights the model does not use, e.g. \(unused.prefix(5).joined(separator: ", ")): are these the weights of another architecture?",
                code: .mismatch)
        }
    }
}
