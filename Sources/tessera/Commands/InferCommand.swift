import ArgumentParser
import Core
import Engine
import Foundation
import Members
import Segmentation
import Shared
import Tiling

/// `tessera infer`: one slide, one machine, no cluster.
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Segment a slide in this process and write its mask.",
        discussion: """
            Tiles of --tile pixels step by --tile − 2×--margin; each is predicted, blended with the \
            --window weights and thresholded. The mask is bit-identical to what a cluster produces \
            with the same settings. Models: \(MemberFactory.architectures.map { "\($0.name) — \($0.summary)" }.joined(separator: "; ")).
            """
    )

    @Argument(help: "The slide (TIFF).") var slide: String
    @Option(help: "Model architecture.") var model: String = "stain"
    @Option(help: "Weights (.safetensors), for models that have them.") var weights: String?
    @Option(help: "The mask TIFF to write (0/255); needed unless --logits is given.") var out: String?
    @Option(help: "Also write the 8-bit probability map here.") var probabilities: String?
    @Option(help: "Also write a submission CSV (id,rle) here; the id is the slide's file name without extension.") var rle: String?
    @Option(help: "Also write the mask's objects as GeoJSON polygons (holes as inner rings, slide pixel coordinates), as QuPath imports them.") var geojson:
        String?
    @Option(help: "The GeoJSON objects' classification.") var geojsonClass = "FTU"
    @Option(help: "Also write a PNG overlay of the mask outline here.") var overlay: String?
    @Option(help: "A ground-truth mask: print the Dice coefficient against it.") var truth: String?
    @Option(help: "Tile side: the model's input size.") var tile = 512
    @Option(help: "Context pixels around each tile's kept centre.") var margin = 64
    @Option(help: "Tile stride (default: tile − 2×margin).") var stride: Int?
    @Option(help: "Blending window: constant (keep the centre), linear or gaussian.") var window: BlendWindow = .constantCrop
    @Option(help: "Probability threshold of the mask.") var threshold = 0.5
    @Option(help: "The constant model's probability.") var constant: Double?
    @Option(help: "Take members and settings from this cluster configuration instead (the cluster's reference result).") var config: String?
    @Option(help: "Flip test-time augmentation: none, h, v or hv.") var flips: FlipSet = .none
    @Option(help: "Map quantisation, as maps travel in a cluster: uint8 or float16.") var maps: MapEncoding = .float16
    @Option(
        help:
            "Tiles over glass alone are not predicted (probability 0): saturation (a block is tissue when 1 % of its pixels are saturated above --tissue-saturation), otsu, or off."
    ) var tissue: TissueDetection.Method = .saturation
    @Option(help: "Saturation (0…1) above which a pixel counts as stained.") var tissueSaturation: Double = 20.0 / 255
    @Option(help: "Remove objects (4-connected) of fewer pixels from the mask.") var minObjectArea = 0
    @Option(help: "Fill holes (4-connected, away from the edge) of fewer pixels in the mask.") var fillHolesBelow = 0
    @Option(help: "Normalise each tile's stains before the model (with --config: each member's stain setting).") var stain: StainMethod?
    @Option(help: "The stain reference (tessera stain fit); Macenko without one uses torchstain's.") var stainReference: String?
    @Option(help: "Normalise the whole slide's stains, estimated once from a sample of it, before any member (towards --slide-stain-reference).")
    var slideStain: StainMethod?
    @Option(help: "The whole-slide stain reference (tessera stain fit); Macenko without one uses torchstain's.") var slideStainReference: String?
    @Option(help: "The slide's µm per pixel, overriding what its file says (or does not).") var pixelSize: Double?
    @Option(help: "With --config: the slide's organ, whose [organ NAME] threshold applies.") var organ: String?
    @Option(
        help:
            "The µm per pixel the model was trained at: tiles are resampled to it (area down, bilinear up) and maps back (with --config: each member's pixel_size). Tile, margin and stride stay in slide pixels. Default: what the weights file says (`tessera train` writes it), else the slide's own."
    ) var modelPixelSize: Double?
    @Option(help: "Read tiles from the slide's pyramid level nearest the models' pixel size: on or off (always full resolution).") var pyramid: String = "on"
    @Option(help: "Threads a tile runs on; results are the same whatever the number. Default: this machine's cores.") var threads = ProcessInfo.processInfo
        .activeProcessorCount
    @Option(
        help:
            "Who reads the slide: auto (libtiff for the TIFFs it decodes, OpenSlide for the rest, JPEG 2000 Aperio slides among them), tiff or openslide. With --config, its [inference] reader by default."
    ) var reader: SlideBackend?
    @Option(
        help:
            "Single-tile mode: write the CNN's raw logits for the tile at --at to this .npy file, and nothing else. For checks against PyTorch: the tile's pixels go to the model as they are, never resampled, whatever pixel size the weights say."
    ) var logits: String?
    @Option(help: "Single-tile mode: the tile's top-left pixel, X,Y (outside pixels reflect).") var at: String = "0,0"
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
        guard (0...1).contains(tissueSaturation) else { throw ValidationError("--tissue-saturation must be between 0 and 1") }
        guard minObjectArea >= 0, fillHolesBelow >= 0 else { throw ValidationError("--min-object-area and --fill-holes-below must not be negative") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be between 1 and 1024") }
        for (name, value) in [("--pixel-size", pixelSize), ("--model-pixel-size", modelPixelSize)] {
            if let value, !(value > 0 && value <= 1000) { throw ValidationError("\(name) must be a pixel size in µm, above 0 and at most 1000") }
        }
        guard pyramid == "on" || pyramid == "off" else { throw ValidationError("--pyramid must be on or off") }
        guard organ == nil || config != nil else {
            throw ValidationError("--organ picks a threshold of --config's [organ NAME] sections; without --config give --threshold")
        }
        guard out != nil || logits != nil else { throw ValidationError("--out is needed: the mask TIFF to write") }
        guard logits == nil || (pixelSize == nil && modelPixelSize == nil) else {
            throw ValidationError(
                "single-tile mode (--logits) runs the model on the tile's pixels as they are, for checks against PyTorch: it does not resample, so --pixel-size and --model-pixel-size do not apply"
            )
        }
    }

    func run() throws {
        CNNModel.setThreads(threads)
        if let logits { return try writeLogits(to: logits) }
        guard let out else { return }
        let job: LocalSegmentation
        if let config {
            let cluster = try ClusterConfig(contentsOf: config)
            for member in cluster.members {
                if let warning = MemberFactory.undeclaredPixelSize(member), !quiet { ProgressReporter.note("infer: \(warning)") }
            }
            let members = try cluster.members.map {
                LocalSegmentation.Member(predictor: try MemberFactory.make($0), weight: $0.weight, pixelSize: $0.pixelSize, name: "member \($0.name)")
            }
            var settings = try cluster.settings.forOrgan(organ)
            settings.pixelSize = pixelSize ?? settings.pixelSize
            if let reader { settings.reader = reader }
            if let slideStain { (settings.slideStain, settings.slideStainReference) = (slideStain, slideStainReference) }
            job = try LocalSegmentation(settings: settings, members: members)
        } else {
            var settings = SegmentationSettings(
                tileSize: tile, margin: margin, stride: stride, window: window,
                threshold: threshold, flips: flips, maps: maps, tissue: TissueDetection(method: tissue, saturation: tissueSaturation),
                cleanup: MaskCleanup(minimumObjectArea: minObjectArea, holeArea: fillHolesBelow),
                pixelSize: pixelSize, useLevels: pyramid == "on")
            settings.slideStain = slideStain
            settings.slideStainReference = slideStainReference
            settings.reader = reader ?? .automatic
            var predictor = try MemberFactory.make(architecture: model, weights: weights, value: constant)
            if let stain { predictor = StainNormalisingPredictor(predictor, normaliser: try StainNormaliser.named(stain, reference: stainReference)) }
            let trained = weights.flatMap(SafeTensors.trainedPixelSize(atPath:))
            if modelPixelSize == nil, let trained, !quiet {
                ProgressReporter.note(
                    "infer: the weights were trained at \(trained) µm/pixel (their file says); tiles are resampled to it (--model-pixel-size overrides)")
            }
            job = try LocalSegmentation(settings: settings, members: [.init(predictor: predictor, pixelSize: modelPixelSize ?? trained, name: model)])
        }
        let progress = ProgressReporter("infer", quiet: quiet)
        let summary = try job.run(slidePath: slide, maskPath: out, probabilityPath: probabilities) {
            progress.update($0, of: $1, unit: "tiles")
        }
        print(
            "mask: \(out) (\(summary.width)×\(summary.height), \(summary.tiles) tiles of which \(summary.skipped) over glass alone, "
                + "\(summary.foregroundPixels) foreground pixels\(summary.downsample > 1 ? ", tiles read from the \(summary.downsample)× pyramid level" : ""))")
        for (member, scale) in zip(job.members, summary.scales) where !scale.isNative {
            print(
                "\(member.name): \(scale.inputSide)-pixel tiles read, \(scale.modelSide)-pixel model input\(member.pixelSize.map { " at \($0) µm/pixel" } ?? "")"
            )
        }
        if let rle {
            var submission = Submission()
            submission.rows = [(Submission.id(forSlide: slide), RLE.text(summary.runs))]
            try submission.write(to: rle)
            print("rle: \(rle)")
        }
        if let geojson {
            let polygons = MaskPolygons.polygons(summary.runs, width: summary.width, height: summary.height)
            try MaskPolygons.writeGeoJSON(polygons, classification: geojsonClass, to: geojson)
            print("geojson: \(geojson) (\(polygons.count) objects)")
        }
        if let overlay {
            try PNGEncoder.write(try MaskOverlay.render(slide: slide, mask: out, truth: truth), to: overlay)
            print("overlay: \(overlay)")
        }
        if let truth {
            print(String(format: "dice: %.4f", try MaskFiles.overlap(out, truth).value))
        }
    }

    /// Single-tile mode: the raw logits of one tile, for checks against PyTorch.
    private func writeLogits(to path: String) throws {
        let coordinates = at.split(separator: ",").compactMap { Int($0) }
        guard coordinates.count == 2 else { throw ValidationError("--at takes X,Y") }
        guard let weights else { throw ValidationError("single-tile mode needs --weights") }
        let model = try CNNModel(architecture: model, weights: try SafeTensorsWeights(path: weights))
        try model.check(tileSize: tile)
        if let trained = SafeTensors.trainedPixelSize(atPath: weights), !quiet {
            ProgressReporter.note(
                "infer: the weights say they were trained at \(trained) µm/pixel; single-tile mode does not resample: the tile's pixels reach the model as they are"
            )
        }
        let pixels = try SlideReader(path: slide).readRGB(x: coordinates[0], y: coordinates[1], width: tile, height: tile)
        let input = Tensor(rgb: pixels.pixels, width: tile, height: tile, mean: model.mean, std: model.std)
        try NPYFile.write(model.network.logits(input), to: path)
        print("logits: \(path) (1×\(tile)×\(tile))")
    }
}
