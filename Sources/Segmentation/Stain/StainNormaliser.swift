import Core
import Foundation
import Tiling

/// A member's stain normalisation: Macenko or Reinhard towards a reference, applied to every
/// tile on its own before the member predicts it (`StainNormalisingPredictor`), the same way
/// in `infer` and on workers. A reference file (`tessera stain fit`) is this value as JSON:
/// `{"method": "macenko", "stains": [[h_R, e_R], [h_G, e_G], [h_B, e_B]], "maxConcentrations":
/// [h, e], "io": 240, "alpha": 1, "beta": 0.15}` or `{"method": "reinhard", "means": [L, a,
/// b], "deviations": [L, a, b]}`.
public enum StainNormaliser: Sendable, Equatable, Codable {
    case macenko(MacenkoStain)
    case reinhard(ReinhardStain)

    private enum Key: String, CodingKey { case method }

    public init(from decoder: Decoder) throws {
        switch try decoder.container(keyedBy: Key.self).decode(StainMethod.self, forKey: .method) {
        case .macenko: self = .macenko(try MacenkoStain(from: decoder))
        case .reinhard: self = .reinhard(try ReinhardStain(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(method, forKey: .method)
        switch self {
        case .macenko(let stain): try stain.encode(to: encoder)
        case .reinhard(let stain): try stain.encode(to: encoder)
        }
    }

    public func normalise(_ image: PixelImage) -> PixelImage {
        switch self {
        case .macenko(let stain): stain.normalise(image)
        case .reinhard(let stain): stain.normalise(image)
        }
    }

    public var name: String {
        switch self {
        case .macenko: "Macenko"
        case .reinhard: "Reinhard"
        }
    }

    /// The normaliser of `method`, towards the reference file `reference` (Macenko without
    /// one: torchstain's reference stains).
    public static func named(_ method: StainMethod, reference: String?) throws -> StainNormaliser {
        if let reference {
            guard let data = FileManager.default.contents(atPath: reference) else {
                throw TesseraError(reference, "cannot read the stain reference", code: .io)
            }
            let loaded: StainNormaliser
            do { loaded = try JSONDecoder().decode(StainNormaliser.self, from: data) } catch {
                throw TesseraError(reference, "is not a stain reference written by tessera stain fit: \(error)", code: .malformed)
            }
            guard loaded.method == method else { throw TesseraError(reference, "holds a \(loaded.name) reference, not \(method.rawValue)", code: .mismatch) }
            return loaded
        }
        switch method {
        case .macenko: return .macenko(MacenkoStain())
        case .reinhard: throw TesseraError("stain", "Reinhard needs a reference: make one with tessera stain fit REF.tiff --method reinhard")
        }
    }

    public var method: StainMethod {
        switch self {
        case .macenko: .macenko
        case .reinhard: .reinhard
        }
    }

    /// The JSON of a reference file.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// A member that predicts stain-normalised tiles.
public final class StainNormalisingPredictor: TilePredictor {
    public let base: TilePredictor
    public let normaliser: StainNormaliser

    public init(_ base: TilePredictor, normaliser: StainNormaliser) {
        self.base = base
        self.normaliser = normaliser
    }

    public var name: String { "\(base.name) (\(normaliser.name))" }
    public var tileMultiple: Int { base.tileMultiple }
    public var minimumTileSide: Int { base.minimumTileSide }

    public func predict(_ tile: PixelImage) throws -> [Float] { try base.predict(normaliser.normalise(tile)) }
}
