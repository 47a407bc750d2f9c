import Core
import Engine
import Foundation
import Segmentation
import Shared

/// Builds the predictor an ensemble member names: its architecture, and its weights file
/// for the architectures that have weights.
public enum MemberFactory {
    /// The architectures this build can host, with what each is.
    public static let architectures: [(name: String, summary: String)] = [
        ("effunet-b0 … effunet-b7", "EfficientNet U-Net of the HuBMAP seed (weights: .safetensors with its state_dict keys)"),
        ("unext50", "ResNeXt50 U-Net of the HuBMAP fast.ai starter (weights: .safetensors)"),
        ("constant", "the same probability everywhere (tests and benchmarks; no weights)"),
        ("stain", "a colour-rule glomerulus baseline (no weights)"),
    ]

    /// The predictor of a configured member.
    public static func make(_ member: ClusterConfig.Member) throws -> TilePredictor {
        if let weights = member.weights, !FileManager.default.fileExists(atPath: weights) {
            throw TesseraError(weights, "the weights of member \(member.name) do not exist")
        }
        if member.architecture == "constant" {
            return try ConstantModel(value: Float(member.value ?? 0.5), delay: member.delay ?? 0)
        }
        if CNNModel.architectures.contains(member.architecture) {
            guard let weights = member.weights else {
                throw TesseraError(member.name, "member \(member.name) (\(member.architecture)) needs weights = PATH.safetensors")
            }
            return try CNNModel(architecture: member.architecture, weights: try SafeTensorsWeights(path: weights),
                                mean: member.mean ?? CNNModel.hubmapMean, std: member.std ?? CNNModel.hubmapStd)
        }
        return try make(architecture: member.architecture, weights: member.weights, option: member.value)
    }

    /// The predictor for `architecture`. `option` is the constant's probability.
    public static func make(architecture: String, weights: String?, option: Double? = nil) throws -> TilePredictor {
        switch architecture {
        case "constant":
            return try ConstantModel(value: Float(option ?? 0.5))
        case "stain":
            return StainModel()
        case _ where CNNModel.architectures.contains(architecture):
            guard let weights else { throw TesseraError(architecture, "needs --weights PATH.safetensors") }
            return try CNNModel(architecture: architecture, weights: try SafeTensorsWeights(path: weights))
        default:
            let known = (CNNModel.architectures + ["constant", "stain"]).joined(separator: ", ")
            throw TesseraError(architecture, "unknown model architecture (this build has: \(known))")
        }
    }
}
