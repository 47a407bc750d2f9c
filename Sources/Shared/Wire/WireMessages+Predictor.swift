import Core
import Tiling

extension Wire.TileSides {
    /// The sides `predictor` takes up to `maximum` (what a worker announces when it registers).
    public init(of predictor: TilePredictor, maximum: Int) {
        let minimum = max(predictor.minimumTileSide, predictor.tileMultiple, WireLimits.tileSide.lowerBound)
        self.init(multiple: predictor.tileMultiple, minimum: min(minimum, maximum), maximum: maximum)
    }
}
