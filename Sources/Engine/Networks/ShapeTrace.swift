/// A network definition followed through shapes alone: the layers it declares, in order,
/// with their parameters. The inference network is built from this list, the training
/// parameter store laid out by it, and a checkpoint checked against it.
public final class ShapeTrace: NetworkBuilder {
    public struct Shape: Sendable, Equatable {
        public var channels: Int, height: Int, width: Int
    }

    /// A layer with parameters, as declared.
    public enum Layer: Sendable, Equatable {
        /// A convolution unit; `residual` when a residual is added before its activation.
        case conv(ConvUnit, residual: Bool)
        /// A batch norm standing alone (after an activation, or on a skip connection).
        case norm(NormUnit, channels: Int)

        public var parameters: [(key: String, shape: [Int])] {
            switch self {
            case .conv(let unit, _): unit.parameters
            case .norm(let norm, let channels): norm.parameters(channels: channels)
            }
        }
    }

    public private(set) var layers: [Layer] = []

    /// The layers `definition` declares for an input of `channels` × `side` × `side`.
    public static func layers(of definition: some NetworkDefinition, channels: Int = 3, side: Int = 256) -> [Layer] {
        let trace = ShapeTrace()
        _ = definition.outputs(Shape(channels: channels, height: side, width: side), trace)
        return trace.layers
    }

    public func shape(of x: Shape) -> (channels: Int, height: Int, width: Int) { (x.channels, x.height, x.width) }

    public func conv(_ x: Shape, _ unit: ConvUnit, gates: Shape?, residual: Residual<Shape>?) -> Shape {
        precondition(x.channels == unit.shape.inputChannels, "\(unit.key): \(x.channels) channels in, \(unit.shape.inputChannels) declared")
        layers.append(.conv(unit, residual: residual != nil))
        let size = unit.shape.outputSize(height: x.height, width: x.width)
        return Shape(channels: unit.shape.outputChannels, height: size.height, width: size.width)
    }

    public func convWithChannelMeans(_ x: Shape, _ unit: ConvUnit) -> (output: Shape, means: Shape) {
        let y = conv(x, unit, gates: nil, residual: nil)
        return (y, Shape(channels: y.channels, height: 1, width: 1))
    }

    public func batchNorm(_ x: Shape, _ norm: NormUnit, activation: Activation) -> Shape {
        layers.append(.norm(norm, channels: x.channels))
        return x
    }

    public func globalMax(_ x: Shape) -> Shape { Shape(channels: x.channels, height: 1, width: 1) }

    public func maxPool(_ x: Shape, kernel: Int, stride: Int, padding: Int) -> Shape {
        Shape(channels: x.channels, height: (x.height + 2 * padding - kernel) / stride + 1, width: (x.width + 2 * padding - kernel) / stride + 1)
    }

    public func bilinear(_ x: Shape, height: Int, width: Int, alignCorners: Bool) -> Shape {
        Shape(channels: x.channels, height: height, width: width)
    }

    public func pixelShuffle(_ x: Shape, factor: Int) -> Shape {
        Shape(channels: x.channels / (factor * factor), height: x.height * factor, width: x.width * factor)
    }

    public func concatenate(_ parts: [Shape]) -> Shape {
        precondition(parts.allSatisfy { $0.height == parts[0].height && $0.width == parts[0].width }, "concatenated maps differ in size")
        return Shape(channels: parts.reduce(0) { $0 + $1.channels }, height: parts[0].height, width: parts[0].width)
    }

    public func dropout2d(_ x: Shape, probability: Double) -> Shape { x }
}
