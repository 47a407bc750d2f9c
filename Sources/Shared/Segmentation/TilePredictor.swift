/// A model that turns an RGB tile into foreground probabilities: what an ensemble member
/// runs. Implementations live in the Engine (CNNs and cheap stand-ins).
public protocol TilePredictor: AnyObject {
    /// A short name for logs and errors, e.g. "constant" or "effunet-b5".
    var name: String { get }

    /// Throws when the model cannot take tiles of side `tileSize` (a CNN's input must be
    /// a multiple of its total stride, for instance).
    func check(tileSize: Int) throws

    /// Probabilities in [0, 1] for an RGB tile (3 channels): `width × height` values,
    /// row-major.
    func predict(_ tile: PixelImage) throws -> [Float]
}

extension TilePredictor {
    public func check(tileSize: Int) throws {}
}
