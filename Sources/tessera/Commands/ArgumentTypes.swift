import ArgumentParser
import Segmentation

/// Domain enums taken straight from the command line: ArgumentParser checks the value and
/// lists the choices in --help and in its error.
extension StainMethod: ExpressibleByArgument {}
