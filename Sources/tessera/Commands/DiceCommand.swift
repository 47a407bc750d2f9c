import ArgumentParser
import Core
import Segmentation
import Shared

/// `tessera dice`: agreement of two masks.
struct DiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dice",
        abstract: "Print the Dice coefficient 2|A∩B|/(|A|+|B|) of two same-sized mask TIFFs.",
        discussion: "Non-zero pixels are foreground; two empty masks score 1."
    )
    @Argument(help: "The first mask TIFF.") var a: String
    @Argument(help: "The second mask TIFF.") var b: String

    func run() throws {
        let dice = try MaskFiles.overlap(a, b)
        print(String(format: "%.6f", dice.value))
    }
}
