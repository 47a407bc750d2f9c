import ArgumentParser
import Core
import Foundation
import Segmentation
import Tiling

/// `tessera stain`: stain references for members' normalisation.
struct StainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stain",
        abstract: "Make stain references for a member's normalisation.",
        subcommands: [Fit.self]
    )

    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fit",
            abstract: "Fit a stain reference to an image the member's training slides look like.",
            discussion: """
                Macenko: the image's H&E stain matrix and 99th-percentile concentrations (Io 240, \
                alpha 1, beta 0.15, as torchstain). Reinhard: its L*a*b* means and standard \
                deviations. Name the file in a member's stain_reference (cluster.conf) or in \
                infer --stain-reference: every tile is then normalised towards it before the member \
                predicts it. The image, or --region of it, is read whole (at most 4096² pixels).             With --slide the reference is fitted as whole-slide normalisation (infer             --slide-stain, [inference] stain) estimates a slide's own stains: from a sample             of at most 2²⁰ pixels of the whole slide, Reinhard from its tissue pixels.
                """
        )
        @Argument(help: "The reference image (TIFF).") var image: String
        @Option(help: "The method.") var method = StainMethod.macenko
        @Option(help: "X,Y,WIDTH,HEIGHT of the image to fit to (default: all of it).") var region: String?
        @Option(help: "The reference file to write (JSON).") var out: String
        @Flag(help: "Fit as whole-slide normalisation estimates a slide (any size; not with --region).") var slide = false

        func validate() throws {
            guard !(slide && region != nil) else { throw ValidationError("--slide fits to a sample of the whole slide: leave out --region") }
        }

        func run() throws {
            let reader = try SlideReader(path: image)
            if slide {
                let like: StainNormaliser = method == .macenko ? .macenko(MacenkoStain()) : .reinhard(ReinhardStain(means: [0, 0, 0], deviations: [1, 1, 1]))
                guard let reference = try SlideStain.estimate(reader, like: like) else {
                    throw TesseraError(image, "has too little tissue in its sample to fit stains to")
                }
                try AtomicFile.write(try reference.json(), to: out)
                print(out)
                return
            }
            var rectangle = (x: 0, y: 0, width: reader.width, height: reader.height)
            if let region {
                let values = region.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard values.count == 4, values[2] > 0, values[3] > 0 else { throw ValidationError("--region takes X,Y,WIDTH,HEIGHT") }
                rectangle = (values[0], values[1], values[2], values[3])
            }
            guard rectangle.width * rectangle.height <= 4096 * 4096 else {
                throw ValidationError("\(image) is \(rectangle.width)×\(rectangle.height): give --region X,Y,W,H of at most 4096² pixels")
            }
            let pixels = try reader.readRGB(x: rectangle.x, y: rectangle.y, width: rectangle.width, height: rectangle.height)
            let reference: StainNormaliser =
                method == .macenko
                ? .macenko(try MacenkoStain().fitted(to: pixels))
                : .reinhard(try ReinhardStain.fitted(to: pixels))
            try AtomicFile.write(try reference.json(), to: out)
            print(out)
        }
    }
}
