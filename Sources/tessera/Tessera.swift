import ArgumentParser

/// The one command line of Tessera; each part of the system is a subcommand.
@main
struct Tessera: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Segment whole-slide histology images with an ensemble of CNNs.",
        discussion: """
            Slides are TIFF (stripped or tiled, BigTIFF, pyramids; no/LZW/Deflate/JPEG; RGB, \
            RGBA or grey). Masks are written as tiled Deflate TIFF (0/255) and as the Kaggle \
            HuBMAP run-length encoding.
            """,
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, KeysCommand.self,
            InferCommand.self, SynthCommand.self, InspectCommand.self, RLECommand.self,
            DiceCommand.self, OverlayCommand.self, WeightsCommand.self, TrainCommand.self, GradientsCommand.self, StainCommand.self, BenchCommand.self,
            FuzzCommand.self, SimulateCommand.self, InfoCommand.self,
        ]
    )

    static func main() {
        BLASCorePinning.apply()
        main(nil)
    }
}
