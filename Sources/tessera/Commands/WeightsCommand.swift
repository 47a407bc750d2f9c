import ArgumentParser
import Core
import Engine
import Foundation
import Segmentation
import Shared

/// `tessera weights`: what a model's weights file must hold, and checks of one.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "List, check or make the weights of a CNN member.",
        discussion: "Weights are .safetensors files keyed by the PyTorch state_dict names of the seed's models; convert a checkpoint with tools/convert_checkpoint.py.",
        subcommands: [Keys.self, Check.self, Random.self]
    )

    struct ModelOption: ParsableArguments {
        @Option(help: "The architecture: \(CNNModel.architectures.joined(separator: ", ")).") var model: String

        func validate() throws {
            guard CNNModel.architectures.contains(model) else {
                throw ValidationError("unknown model \(model) (known: \(CNNModel.architectures.joined(separator: ", ")))")
            }
        }

        /// Every key the model loads, with its shape, in loading order.
        func keys() throws -> [(key: String, shape: [Int])] { try CNNModel.parameterShapes(model) }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every state_dict key the model loads, with its shape.")
        @OptionGroup var model: ModelOption
        func run() throws {
            for (key, shape) in try model.keys() { print("\(key) \(shape.map(String.init).joined(separator: "×"))") }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a weights file as the model would; print OK or what is wrong.")
        @OptionGroup var model: ModelOption
        @Argument(help: "The .safetensors file.") var weights: String
        func run() throws {
            _ = try CNNModel(architecture: model.model, weights: try SafeTensorsWeights(path: weights))
            print("OK: \(weights) holds every weight of \(model.model), each of the right shape, and nothing else")
        }
    }

    struct Random: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write deterministic (untrained) weights: for benchmarks and tests, not for segmenting.")
        @OptionGroup var model: ModelOption
        @Option(help: "The .safetensors file to write.") var out: String
        func run() throws {
            let keys = try DeterministicWeights.write(architecture: model.model, to: out)
            print("\(out): \(keys.count) tensors, \(keys.reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters")
        }
    }
}
