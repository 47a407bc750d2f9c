import ArgumentParser
import Core
import Engine
import Foundation
import Shared

/// `tessera weights`: what a model's weights file must hold, and checks of one.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "List, check or make the weights of a CNN member.",
        discussion:
            "Weights are .safetensors files keyed by the PyTorch state_dict names of the seed's models; convert a checkpoint with tools/convert_checkpoint.py.",
        subcommands: [Keys.self, Check.self, Random.self, Float16Copy.self]
    )

    struct ModelOption: ParsableArguments {
        @Option(help: "The architecture.") var model: Architecture

        /// Every key the model loads, with its shape, in loading order.
        func keys() -> [(key: String, shape: [Int])] { model.parameterShapes }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every state_dict key the model loads, with its shape.")
        @OptionGroup var model: ModelOption
        func run() throws {
            for (key, shape) in model.keys() { print("\(key) \(shape.map(String.init).joined(separator: "×"))") }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a weights file as the model would; print OK or what is wrong.")
        @OptionGroup var model: ModelOption
        @Argument(help: "The .safetensors file.") var weights: String
        func run() throws {
            _ = try CNNModel(model.model, weights: try SafeTensorsWeights(path: weights))
            print("OK: \(weights) holds every weight of \(model.model), each of the right shape, and nothing else")
        }
    }

    struct Random: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write deterministic (untrained) weights: for benchmarks and tests, not for segmenting.")
        @OptionGroup var model: ModelOption
        @Option(help: "The .safetensors file to write.") var out: String
        func run() throws {
            let keys = try DeterministicWeights.write(model.model, to: out)
            print("\(out): \(keys.count) tensors, \(keys.reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters")
        }
    }

    struct Float16Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "float16",
            abstract: "Copy a weights file with its values in float16: half the size, for bundling and sharing.",
            discussion:
                "Keys, shapes and metadata are kept; --metadata adds or replaces entries. Tessera and PyTorch load the copy as float32 weights rounded to float16's 11 significant bits."
        )
        @Argument(help: "The float32 (or any float) .safetensors file.") var weights: String
        @Option(help: "The .safetensors file to write.") var out: String
        @Option(help: "A metadata entry KEY=VALUE to record (repeatable), e.g. the training command.") var metadata: [String] = []

        func run() throws {
            let file = try SafeTensors(path: weights)
            var recorded = file.metadata
            for entry in metadata {
                guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                    throw ValidationError("--metadata \(entry): write KEY=VALUE")
                }
                recorded[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            }
            let tensors = try file.names.map { name in (name: name, shape: file.entries[name]!.shape, values: try file.floats(name)) }
            try SafeTensors.write(tensors, to: out, metadata: recorded, precision: .float16)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            print("\(out): \(tensors.count) tensors in float16, \(bytes) bytes")
        }
    }
}
