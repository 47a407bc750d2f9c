import Core

/// How one member sees a tile when its pixel size is not the slide's: the tile as read
/// (`inputSide`², from the slide or one of its pyramid levels), the model's input
/// (`modelSide`², at the member's pixel size) and the map returned (`mapSide`², in
/// full-resolution slide pixels, which the stitcher blends).
public struct TileScale: Sendable, Equatable {
    public var inputSide: Int
    public var modelSide: Int
    public var mapSide: Int

    /// The tile as read is the model's input and its map: no resampling.
    public static func native(_ side: Int) -> TileScale { TileScale(inputSide: side, modelSide: side, mapSide: side) }

    public var isNative: Bool { inputSide == modelSide && modelSide == mapSide }

    /// The scale of a member declared at `memberPixelSize` µm/px (nil: the slide's, whatever
    /// it is) for a tile read `inputSide`² at `tilePixelSize` µm/px whose map covers
    /// `mapSide`² full-resolution pixels. The model's side is the covered length over the
    /// member's pixel size, rounded to the sides `predictor` takes: so the member sees the
    /// slide at its own scale to within half a multiple (16 pixels of 512 for a CNN: 3 %).
    public static func member(
        pixelSize memberPixelSize: Double?, tilePixelSize: Double?, inputSide: Int, mapSide: Int,
        predictor: TilePredictor, member: String
    ) throws -> TileScale {
        guard let memberPixelSize else {
            guard inputSide == mapSide else {
                throw TesseraError(member, "declares no pixel size, so it cannot take tiles read from a reduced pyramid level", code: .mismatch)
            }
            return .native(inputSide)
        }
        guard let tilePixelSize, tilePixelSize > 0 else {
            throw TesseraError(
                member, "is declared at \(memberPixelSize) µm/pixel but the slide's pixel size is unknown: give it (--pixel-size)", code: .mismatch)
        }
        let exact = Double(inputSide) * tilePixelSize / memberPixelSize
        let multiple = predictor.tileMultiple
        let lowest = max(predictor.minimumTileSide, multiple)
        let side = max(lowest, Int((exact / Double(multiple)).rounded()) * multiple)
        guard side <= maximumModelSide else {
            throw TesseraError(
                member,
                "would need \(side)-pixel model tiles for \(inputSide)-pixel tiles at \(tilePixelSize) µm/pixel "
                    + "(member at \(memberPixelSize) µm/pixel): use smaller tiles")
        }
        return TileScale(inputSide: inputSide, modelSide: side, mapSide: mapSide)
    }

    /// The largest model tile a rescaled member is given.
    public static let maximumModelSide = 4096

    /// `predict` (the model with its flips) at the member's scale: the tile resampled to
    /// `modelSide`, the map resampled back to `mapSide`.
    public func map(of tile: PixelImage, predict: (PixelImage) throws -> [Float]) throws -> [Float] {
        precondition(tile.width == inputSide && tile.height == inputSide)
        if isNative { return try predict(tile) }
        return Resample.map(try predict(Resample.pixels(tile, to: modelSide)), from: modelSide, to: mapSide)
    }
}
