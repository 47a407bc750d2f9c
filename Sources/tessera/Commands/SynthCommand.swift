import ArgumentParser
import Core
import Segmentation
import Shared

/// `tessera synth`: a synthetic slide with its exact mask.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write an H&E-looking synthetic kidney slide, its exact glomerulus mask and a train.csv row.",
        discussion: """
            The same seed and size always give the same slide. Writes DIR/ID.tiff (tiled RGB), \
            DIR/ID_mask.tiff (0/255) and adds the row to DIR/train.csv. Large slides are written \
            band by band, in bounded memory.
            """
    )

    @Option(help: "Width in pixels (1 to 200000).") var width = 2048
    @Option(help: "Height in pixels (1 to 200000).") var height = 2048
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output folder.") var out: String
    @Option(help: "Slide id (file stem and train.csv id); default synth_SEED.") var id: String?
    @Option(help: "Tile compression of the slide: deflate, lzw, jpeg or none.") var compression: TiledImageWriter.Compression = .deflate
    @Option(help: "How much of the slide is glass, 0 to 1: 0 leaves the edges and a few patches bare, towards 1 tissue shrinks to islands.") var glass = 0.0
    @Option(help: "How far the stains differ from the default, 0 to 1 (another lab's: bluer haematoxylin, browner eosin).") var stainShift = 0.0
    @Option(help: "Reduced copies written after the slide (a pyramid), as reduction factors, e.g. 4,16.") var pyramid: String?
    @Flag(help: "Write the pixel size as an Aperio ImageDescription (MPP = …) instead of TIFF resolution tags.") var aperio = false
    @Option(help: "The pixel size written, in µm (the slide is drawn at 0.5 µm, the HuBMAP kidney slides' scale).") var pixelSize = 0.5
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard (1...200_000).contains(width), (1...200_000).contains(height) else {
            throw ValidationError("--width and --height must be between 1 and 200000")
        }
        guard (0...1).contains(glass), (0...1).contains(stainShift) else { throw ValidationError("--glass and --stain-shift must be between 0 and 1") }
        guard pixelSize > 0 && pixelSize <= 1000 else { throw ValidationError("--pixel-size must be in µm, above 0 and at most 1000") }
        guard let factors = pyramidFactors, factors.allSatisfy({ (2...1024).contains($0) }), factors == factors.sorted(), Set(factors).count == factors.count
        else {
            throw ValidationError("--pyramid takes increasing factors from 2 to 1024, e.g. 4,16")
        }
    }

    /// The factors of --pyramid, nil when they do not parse.
    private var pyramidFactors: [Int]? {
        guard let pyramid else { return [] }
        let factors = pyramid.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return factors.contains(nil) || factors.isEmpty ? nil : factors.compactMap { $0 }
    }

    func run() throws {
        let progress = ProgressReporter("synth", quiet: quiet)
        let output = try SyntheticSlideWriter.write(
            SyntheticSlide(width: width, height: height, seed: seed, glass: glass, stainShift: stainShift), to: out, id: id,
            compression: compression, pyramid: pyramidFactors ?? [], aperio: aperio, micronsPerPixel: pixelSize
        ) { progress.update($0, of: $1, unit: "rows") }
        print(output.slidePath)
        print(output.maskPath)
        print(output.csvPath)
    }
}
