/// A model that turns an RGB tile into foreground probabilities: what an ensemble member
/// runs. Implementations live in the Engine (CNNs and cheap stand-ins).
public protocol TilePredictor: AnyObject {
    /// A short name for logs and errors, e.g. "constant" or "effunet-b5".
    var name: String { get }

    /// Tile sides must be a multiple of this (a CNN's total stride, for instance).
    var tileMultiple: Int { get }

    /// The smallest tile side it can take.
    var minimumTileSide: Int { get }

    /// Probabilities in [0, 1] for an RGB tile (3 channels): `width × height` values,
    /// row-major. The tile's sides are ones `tileSides` accepts.
    func predict(_ tile: PixelImage) throws -> [Float]
}

extension TilePredictor {
    public var tileMultiple: Int { 1 }
    public var minimumTileSide: Int { 1 }

    /// Throws, saying what it takes, when it cannot take tiles of side `tileSize`.
    public func check(tileSize: Int) throws {
        guard tileSize >= minimumTileSide, tileSize % tileMultiple == 0 else {
            let sides =
                tileMultiple == 1 ? "at least \(minimumTileSide) pixels" : "multiples of \(tileMultiple) pixels, at least \(max(minimumTileSide, tileMultiple))"
            throw TesseraError(name, "takes tile sides of \(sides), not \(tileSize)", code: .mismatch)
        }
    }
}
