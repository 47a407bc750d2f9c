import ArgumentParser
import Tiling
import Training

/// Domain enums taken straight from the command line: ArgumentParser checks the value and
/// lists the choices in --help and in its error.
extension StainMethod: ExpressibleByArgument {}
extension OptimizerChoice: ExpressibleByArgument {}
extension LossChoice: ExpressibleByArgument {}
extension ScheduleChoice: ExpressibleByArgument {}
