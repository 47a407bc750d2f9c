import ArgumentParser
import Core
import Engine
import Segmentation
import Tiling
import Training

/// Domain enums taken straight from the command line: ArgumentParser checks the value and
/// lists the choices in --help and in its error.
extension StainMethod: ExpressibleByArgument {}
extension OptimizerChoice: ExpressibleByArgument {}
extension LossChoice: ExpressibleByArgument {}
extension ScheduleChoice: ExpressibleByArgument {}
extension BlendWindow: ExpressibleByArgument {}
extension FlipSet: ExpressibleByArgument {}
extension TissueDetection.Method: ExpressibleByArgument {}
extension SlideBackend: ExpressibleByArgument {}
extension TiledImageWriter.Compression: ExpressibleByArgument {}
extension Log.Format: ExpressibleByArgument {}

extension MapEncoding: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}

/// A CNN architecture by name (effunet-b0 … effunet-b7, unext50).
extension Architecture: ExpressibleByArgument {
    public init?(argument: String) {
        guard let known = try? Architecture(named: argument) else { return nil }
        self = known
    }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { names }
}
