import Core
import Tiling

/// Segments a slide in this process: tiles read, predicted by each member, blended and
/// thresholded row band by row band. The reference the distributed coordinator must
/// reproduce bit for bit, and the engine of `tessera infer`.
public struct LocalSegmentation {
    /// One ensemble member: a predictor and its integer weight in the average.
    public struct Member {
        public let predictor: TilePredictor
        public let weight: Int
        /// µm per pixel the member was trained at; nil: it takes the slide as it is.
        public let pixelSize: Double?
        /// A name for errors.
        public let name: String
        public init(predictor: TilePredictor, weight: Int = 1, pixelSize: Double? = nil, name: String? = nil) {
            self.predictor = predictor
            self.weight = weight
            self.pixelSize = pixelSize
            self.name = name ?? "member \(predictor.name)"
        }
    }

    public let settings: SegmentationSettings
    public let members: [Member]

    public init(settings: SegmentationSettings, members: [Member]) throws {
        guard !members.isEmpty else { throw TesseraError("ensemble", "no member to predict with") }
        for member in members where member.pixelSize == nil { try member.predictor.check(tileSize: settings.tileSize) }
        self.settings = settings
        self.members = members
    }

    /// What a run produced.
    public struct Summary: Sendable {
        public let width: Int
        public let height: Int
        public let tiles: Int
        /// Tiles over glass alone, not predicted.
        public let skipped: Int
        public let foregroundPixels: Int
        /// The mask's competition runs.
        public let runs: [RLE.Run]
        /// Full-resolution pixels per pixel of the tiles read (1: the slide itself).
        public let downsample: Int
        /// Each member's tile as read, as its model takes it, and as its map returns.
        public let scales: [TileScale]
    }

    /// Segments `slidePath` into `maskPath` (and `probabilityPath`), reporting tiles done.
    public func run(
        slidePath: String, maskPath: String, probabilityPath: String? = nil,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Summary {
        let pipeline = try SlidePipeline(
            slidePath: slidePath, settings: settings, memberWeights: members.map(\.weight),
            memberPixelSizes: members.map(\.pixelSize), maskPath: maskPath, probabilityPath: probabilityPath)
        let (plan, stitcher, output) = (pipeline.plan, pipeline.stitcher, pipeline.output)
        let reader = try pipeline.tileReader()
        let side = plan.tileSize / pipeline.source.downsample
        var tissue = pipeline.tissue
        reader.keepBlocks(forWidth: reader.width, height: (plan.tileSize + plan.stride + 2 * tissue.reach) / pipeline.source.downsample)
        let scales = try members.map {
            try TileScale.member(
                pixelSize: $0.pixelSize, tilePixelSize: pipeline.source.tilePixelSize, inputSide: side,
                mapSide: plan.tileSize, predictor: $0.predictor, member: $0.name)
        }
        var done = 0, skipped = 0
        for row in 0..<plan.rows {
            for tile in plan.tiles(inRow: row) {
                let pixels = try SlidePipeline.tile(tile, of: plan, from: reader, stain: pipeline.stain, tissue: &tissue)
                skipped += pixels == nil ? 1 : 0
                for (index, member) in members.enumerated() {
                    guard let pixels else {
                        try stitcher.addZeros(tile: tile, member: index)  // glass: probability 0
                        continue
                    }
                    let encoded = try settings.predict(pixels, with: member.predictor, scale: scales[index])
                    try encoded.withUnsafeBufferPointer {
                        try stitcher.add(tile: tile, member: index, encoded: $0, encoding: settings.maps, inset: settings.mapInset)
                    }
                }
                done += 1
                progress?(done, plan.tileCount)
            }
            try output.appendFinishedRows(of: stitcher)
        }
        try output.finish()
        return Summary(
            width: pipeline.reader.width, height: pipeline.reader.height, tiles: plan.tileCount, skipped: skipped,
            foregroundPixels: output.foreground, runs: output.runs(), downsample: pipeline.source.downsample, scales: scales)
    }
}
