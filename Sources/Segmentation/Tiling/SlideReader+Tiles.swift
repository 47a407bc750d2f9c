import Core

extension SlideReader {
    /// The RGB pixels of `tile` of `plan`, reflected outside the slide: the one way every
    /// part of Tessera reads a tile (`infer`, the coordinator's readers, tests).
    public func readTile(_ tile: TileIndex, of plan: TilePlan) throws -> PixelImage {
        let origin = plan.origin(of: tile)
        return try readRGB(x: origin.x, y: origin.y, width: plan.tileSize, height: plan.tileSize)
    }
}
