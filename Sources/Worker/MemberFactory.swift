import Engine
import Foundation
import Shared

/// Builds the predictor an ensemble member names: its architecture, and its weights file
/// for the architectures that have weights.
public enum MemberFactory {
    /// The architectures this build can host, with what each is.
    public static let architectures: [(name: String, summary: String)] = [
        ("constant", "the same probability everywhere (tests and benchmarks; weights: none)"),
        ("stain", "a colour-rule glomerulus baseline (no weights; a stand-in until CNN members)"),
    ]

    /// The predictor of a configured member.
    public static func make(_ member: ClusterConfig.Member) throws -> TilePredictor {
        if let weights = member.weights, !FileManager.default.fileExists(atPath: weights) {
            throw TesseraError(weights, "the weights of member \(member.name) do not exist")
        }
        if member.architecture == "constant" {
            return try ConstantModel(value: Float(member.value ?? 0.5), delay: member.delay ?? 0)
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
        default:
            let known = architectures.map(\.name).joined(separator: ", ")
            throw TesseraError(architecture, "unknown model architecture (this build has: \(known))")
        }
    }
}
