import Core
import Tiling

extension SlideReader {
    /// The RGB pixels of `tile` of `plan`, reflected outside the slide: the one way every
    /// part of Tessera reads a tile (`infer`, the coordinator's readers, tests). From a
    /// reduced pyramid level the same region is read, `downsample` times smaller: the plan's
    /// tile side, stride and margin must be multiples of it (`TileSource` sees to that).
    public func readTile(_ tile: TileIndex, of plan: TilePlan) throws -> PixelImage {
        let origin = plan.origin(of: tile)
        let d = downsample
        precondition(plan.tileSize % d == 0 && plan.stride % d == 0 && plan.margin % d == 0, "the plan does not fit the level")
        return try readRGB(x: origin.x / d, y: origin.y / d, width: plan.tileSize / d, height: plan.tileSize / d)
    }
}
