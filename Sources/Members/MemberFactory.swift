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

    /// Every architecture name this build can host.
    public static var names: [String] { CNNModel.architectures + ["constant", "stain"] }

    /// The predictor of a configured member. A CNN member declared without weights starts
    /// from the deterministic weights `tessera weights random` writes (`untrainedWarning`):
    /// a member to be trained on the cluster from scratch.
    public static func make(_ member: ClusterConfig.Member) throws -> TilePredictor {
        let predictor = try make(
            architecture: member.architecture, weights: member.weights, value: member.value, delay: member.delay,
            mean: member.mean, std: member.std, member: member.name, untrainedWithoutWeights: true)
        guard let stain = member.stain else { return predictor }
        do {
            return StainNormalisingPredictor(predictor, normaliser: try StainNormaliser.named(stain, reference: member.stainReference))
        } catch let error as TesseraError {
            throw TesseraError(error.subject, error.reason + " (member \(member.name))", code: error.code)
        }
    }

    /// A warning for a CNN member without weights: it serves tiles with untrained weights.
    public static func untrainedWarning(_ member: ClusterConfig.Member) -> String? {
        guard member.weights == nil, CNNModel.architectures.contains(member.architecture) else { return nil }
        return "member \(member.name) has no weights: it serves tiles with untrained (deterministic) weights until you train it "
            + "(tessera train --config … --member \(member.name), which starts from --weights or from these) and set weights = PATH"
    }

    /// A warning when the member's weights say they were trained at a pixel size its
    /// configuration does not declare: tiles then reach it unresampled.
    public static func undeclaredPixelSize(_ member: ClusterConfig.Member) -> String? {
        guard member.pixelSize == nil, let weights = member.weights, let trained = SafeTensors.trainedPixelSize(atPath: weights) else { return nil }
        return "member \(member.name)'s weights were trained at \(trained) µm/pixel, but it declares no pixel_size: tiles reach it at the slide's "
            + "pixel size (declare pixel_size = \(trained) to resample them)"
    }

    /// The predictor for `architecture`: `weights` for a CNN (and its input normalisation,
    /// the seed's by default), `value` and `delay` for `constant`. `member` names the
    /// configured member in errors. A CNN without weights is refused, or with
    /// `untrainedWithoutWeights` gets the deterministic weights `weights random` writes.
    public static func make(
        architecture: String, weights: String?, value: Double? = nil, delay: Double? = nil,
        mean: [Float]? = nil, std: [Float]? = nil, member: String? = nil,
        untrainedWithoutWeights: Bool = false
    ) throws -> TilePredictor {
        if let weights, !FileManager.default.fileExists(atPath: weights) {
            throw TesseraError(weights, member.map { "the weights of member \($0) do not exist" } ?? "the weights do not exist", code: .notFound)
        }
        switch architecture {
        case "constant":
            return try ConstantModel(value: Float(value ?? 0.5), delay: delay ?? 0)
        case "stain":
            return StainModel()
        case _ where CNNModel.architectures.contains(architecture):
            let source: WeightSource
            if let weights {
                source = try SafeTensorsWeights(path: weights)
            } else if untrainedWithoutWeights {
                source = DeterministicWeights()
            } else {
                throw TesseraError(
                    member ?? architecture,
                    member.map { "member \($0) (\(architecture)) needs weights = PATH.safetensors" }
                        ?? "needs --weights PATH.safetensors")
            }
            return try CNNModel(architecture: architecture, weights: source, mean: mean ?? CNNModel.hubmapMean, std: std ?? CNNModel.hubmapStd)
        default:
            throw TesseraError(architecture, "unknown model architecture (this build has: \(names.joined(separator: ", ")))", code: .notFound)
        }
    }
}
