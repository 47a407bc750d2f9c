import Core
import Foundation

/// Predicts the same probability everywhere. Not a model of anything: it costs nothing
/// (or `delay` seconds a tile, to stand in for a real model's time), so tests and cluster
/// benchmarks measure Tessera itself rather than a CNN.
public final class ConstantModel: TilePredictor {
    public let value: Float
    public let delay: Double
    public var name: String { "constant" }

    public init(value: Float = 0.5, delay: Double = 0) throws {
        guard value.isFinite, (0...1).contains(value) else {
            throw TesseraError("constant", "the probability \(value) is not between 0 and 1")
        }
        guard (0...10).contains(delay) else { throw TesseraError("constant", "delay \(delay) s is not between 0 and 10") }
        self.value = value
        self.delay = delay
    }

    public func predict(_ tile: PixelImage) throws -> [Float] {
        if delay > 0 { usleep(UInt32(delay * 1_000_000)) }
        return Array(repeating: value, count: tile.width * tile.height)
    }
}
