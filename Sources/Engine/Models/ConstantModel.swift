import Shared

/// Predicts the same probability everywhere. Not a model of anything: it costs nothing,
/// so tests and cluster benchmarks measure Tessera itself rather than a CNN.
public final class ConstantModel: TilePredictor {
    public let value: Float
    public var name: String { "constant" }

    public init(value: Float = 0.5) throws {
        guard value.isFinite, (0...1).contains(value) else {
            throw TesseraError("constant", "the probability \(value) is not between 0 and 1")
        }
        self.value = value
    }

    public func predict(_ tile: PixelImage) throws -> [Float] {
        Array(repeating: value, count: tile.width * tile.height)
    }
}
