import Core

/// How a slide is tiled, blended and thresholded: the inference settings of a job.
public struct SegmentationSettings: Sendable, Equatable {
    /// The model input side, T.
    public var tileSize: Int
    /// Context around each tile's kept centre, E.
    public var margin: Int
    /// Distance between tiles; nil for the centre (T − 2E).
    public var stride: Int?
    public var window: BlendWindow
    /// A pixel is foreground when its blended probability is at least this.
    public var threshold: Double
    /// Flips predicted and averaged for each tile (test-time augmentation).
    public var flips: FlipSet
    /// How each member's map is quantised before blending (as it travels on the wire).
    public var maps: MapEncoding
    /// How glass is told from tissue: tiles over glass alone are not predicted.
    public var tissue: TissueDetection
    /// Small objects removed and small holes filled in the mask (and its runs).
    public var cleanup: MaskCleanup
    /// µm per pixel of the slide, overriding what its file says (or does not).
    public var pixelSize: Double?
    /// Whether tiles may be read from a pyramid level when every member's pixel size allows.
    public var useLevels: Bool
    /// Who reads the slide: automatic (libtiff for the TIFFs it decodes, OpenSlide for the
    /// rest), or one of them by name.
    public var reader: SlideBackend = .automatic
    /// Thresholds by organ (lower-case name), for slides whose organ is given: tuned per
    /// organ as the HuBMAP 2022 solutions did.
    public var organThresholds: [String: Double] = [:]
    /// Stain normalisation of the whole slide before any member sees it ("macenko",
    /// "reinhard"; `SlideStain`), towards `slideStainReference` (a `tessera stain fit`
    /// file; Macenko without one: torchstain's reference). Resolved where the slide is read.
    public var slideStain: StainMethod?
    public var slideStainReference: String?

    /// The seed's defaults: 512-pixel tiles, 64 pixels of context kept out, threshold 0.5;
    /// tiles over glass alone (the seed's saturation test) are not predicted.
    public init(
        tileSize: Int = 512, margin: Int = 64, stride: Int? = nil, window: BlendWindow = .constantCrop,
        threshold: Double = 0.5, flips: FlipSet = .none, maps: MapEncoding = .float16,
        tissue: TissueDetection = TissueDetection(method: .saturation), cleanup: MaskCleanup = MaskCleanup(),
        pixelSize: Double? = nil, useLevels: Bool = true
    ) {
        self.tileSize = tileSize
        self.margin = margin
        self.stride = stride
        self.window = window
        self.threshold = threshold
        self.flips = flips
        self.maps = maps
        self.tissue = tissue
        self.cleanup = cleanup
        self.pixelSize = pixelSize
        self.useLevels = useLevels
    }

    /// Pixels along each edge of a tile whose map the blending window ignores, and which
    /// therefore never travel: with the constant window, the margin (44 % of a 512-pixel
    /// tile's map with a 64-pixel margin).
    public var mapInset: Int { window.inset(tileSize: tileSize, margin: margin) }

    /// One member's prediction of a tile as the stitcher takes it: at the member's scale
    /// (`scale`), flips averaged, cropped by `mapInset`, then encoded as on the wire.
    /// `tessera infer` calls this; workers do the same with the request's settings.
    public func predict(_ tile: PixelImage, with predictor: TilePredictor, scale: TileScale? = nil) throws -> [UInt8] {
        try maps.prediction(of: tile, by: predictor, flips: flips, inset: mapInset, scale: scale)
    }

    /// These settings for a slide of `organ` (nil: not given): its threshold from
    /// `organThresholds`. An organ the table lacks is refused when the table has any, so a
    /// misspelt organ never falls back silently.
    public func forOrgan(_ organ: String?) throws -> SegmentationSettings {
        guard let organ else { return self }
        let key = organ.lowercased()
        guard !organThresholds.isEmpty else { return self }
        guard let threshold = organThresholds[key] else {
            throw TesseraError(
                "organ", "\(organ) has no threshold (organs with one: \(organThresholds.keys.sorted().joined(separator: ", ")))", code: .notFound)
        }
        var settings = self
        settings.threshold = threshold
        return settings
    }

    /// The tile plan for an image of this size.
    public func plan(width: Int, height: Int) throws -> TilePlan {
        guard (0...1).contains(threshold) else { throw TesseraError("threshold", "\(threshold) is not between 0 and 1") }
        if let pixelSize, !(pixelSize > 0 && pixelSize.isFinite) { throw TesseraError("pixel size", "\(pixelSize) µm is not a positive number") }
        return try TilePlan(imageWidth: width, imageHeight: height, tileSize: tileSize, margin: margin, stride: stride)
    }
}
