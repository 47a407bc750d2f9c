import ArgumentParser
import Core
import Segmentation
import Shared

/// `tessera overlay`: a PNG to look at a segmentation.
struct OverlayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay",
        abstract: "Write a down-scaled PNG of a slide with a mask's outlines drawn on it (green; the truth, if given, blue)."
    )
    @Argument(help: "The slide.") var slide: String
    @Argument(help: "The mask TIFF.") var mask: String
    @Option(help: "A second mask to outline beneath, e.g. the ground truth.") var truth: String?
    @Option(help: "The PNG to write.") var out: String
    @Option(help: "Longest side of the PNG in pixels.") var maxSide = 2048

    func validate() throws {
        guard (16...16384).contains(maxSide) else { throw ValidationError("--max-side must be between 16 and 16384") }
    }

    func run() throws {
        let picture = try MaskOverlay.render(slide: slide, mask: mask, truth: truth, maxSide: maxSide)
        try PNGEncoder.write(picture, to: out)
    }
}
