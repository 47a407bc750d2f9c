import Core

/// The CNN architectures Tessera computes and trains, by the names configurations, the
/// command line and checkpoints' metadata use ("effunet-b0" … "effunet-b7", "unext50").
public enum Architecture: Hashable, Sendable, CustomStringConvertible {
    case effUnet(EfficientNetVariant)
    case unext50

    public static let all: [Architecture] = EfficientNetVariant.all.map { .effUnet($0) } + [.unext50]
    public static var names: [String] { all.map(\.name) }

    /// The architecture called `name`, or an error listing the known ones.
    public init(named name: String) throws {
        guard let known = Self.all.first(where: { $0.name == name }) else {
            throw TesseraError(name, "unknown CNN architecture (known: \(Self.names.joined(separator: ", ")))", code: .notFound)
        }
        self = known
    }

    public var name: String {
        switch self {
        case .effUnet(let variant): "effunet-\(variant.name)"
        case .unext50: "unext50"
        }
    }

    public var description: String { name }

    /// The network; `dropConnect` is EfficientNet's drop-connect rate in training.
    public func definition(dropConnect: Double = 0) -> any NetworkDefinition {
        switch self {
        case .effUnet(let variant): EffUnet(variant: variant, dropConnect: dropConnect)
        case .unext50: UneXt50()
        }
    }

    /// The network's total stride: tile sides must be multiples of it.
    public var alignment: Int { 32 }

    /// Every state_dict key the network loads, with its shape, in loading order.
    public var parameterShapes: [(key: String, shape: [Int])] {
        ShapeTrace.layers(of: definition()).flatMap(\.parameters)
    }

    /// Keys a checkpoint may hold that the network never uses: the starter's ASPP declares a
    /// 1×1 `conv1` it never calls, and EfficientNet keeps its classification head.
    public var unusedKeys: Set<String> { Set(unusedParameterShapes.map(\.key)) }

    /// Those keys with the shapes the PyTorch module (`tools/seed_models.py`) gives them.
    /// Files Tessera writes hold them too, so that `load_state_dict(strict=True)` takes them.
    public var unusedParameterShapes: [(key: String, shape: [Int])] {
        switch self {
        case .unext50: return [("aspp.conv1.weight", [512, 256 * 6, 1, 1])]
        case .effUnet(let variant):
            let head = variant.filters(1280), last = variant.featureChannels[4]
            return [("aspp.conv1.weight", [384, 256 * 6, 1, 1]), ("encoder._conv_head.weight", [head, last, 1, 1])]
                + ["weight", "bias", "running_mean", "running_var"].map { ("encoder._bn1." + $0, [head]) }
                + [("encoder._fc.weight", [1000, head]), ("encoder._fc.bias", [1000])]
        }
    }
}
