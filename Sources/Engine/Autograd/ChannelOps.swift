import Core
import Foundation

/// Per-channel operations of squeeze-excitation, with their backward passes: the global
/// average (`adaptive_avg_pool2d(x, 1)`) and the broadcast product x · s[channel].
public enum ChannelOps {
    /// Each channel's mean, summed in double precision.
    public static func globalAverage(_ x: Tensor) -> [Float] {
        let plane = x.planeSize
        return (0..<x.channels).map { c in Float(x.data[(c * plane)..<((c + 1) * plane)].reduce(0.0) { $0 + Double($1) } / Double(plane)) }
    }

    /// The input's gradient of `globalAverage`: each channel's gradient spread evenly.
    public static func globalAverageBackward(_ gradient: [Float], height: Int, width: Int) -> Tensor {
        let plane = height * width
        var out = Tensor(uninitializedChannels: gradient.count, height: height, width: width)
        for c in gradient.indices {
            let share = gradient[c] / Float(plane)
            for i in 0..<plane { out.data[c * plane + i] = share }
        }
        return out
    }

    /// x · s[c] for every pixel of channel c.
    public static func scale(_ x: Tensor, by s: [Float]) -> Tensor {
        var out = x
        let plane = x.planeSize
        for c in 0..<x.channels { for i in 0..<plane { out.data[c * plane + i] = x.data[c * plane + i] * s[c] } }
        return out
    }

    /// The gradients of x and s from the product's: dy · s[c], and Σ dy · x per channel.
    public static func scaleBackward(_ gradient: Tensor, input x: Tensor, scale s: [Float]) -> (input: Tensor, scale: [Float]) {
        let plane = x.planeSize
        var dx = gradient
        var ds = [Float](repeating: 0, count: x.channels)
        for c in 0..<x.channels {
            var sum = 0.0
            for i in 0..<plane {
                dx.data[c * plane + i] = gradient.data[c * plane + i] * s[c]
                sum += Double(gradient.data[c * plane + i]) * Double(x.data[c * plane + i])
            }
            ds[c] = Float(sum)
        }
        return (dx, ds)
    }
}
