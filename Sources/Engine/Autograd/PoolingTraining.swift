import Core
import Foundation

/// Max pooling for training: the maxima and where they came from, and the backward pass
/// that sends each gradient to its maximum. Ties go to the first maximum in the window's
/// row-major order (PyTorch compares with `>`), and a NaN wins, as in PyTorch's CPU kernels.
public enum PoolingTraining {
    /// `nn.MaxPool2d(kernel, stride, padding)`, with each output's source index in its plane.
    public static func max(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> (output: Tensor, indices: [Int]) {
        let outHeight = (x.height + 2 * padding - kernel) / stride + 1
        let outWidth = (x.width + 2 * padding - kernel) / stride + 1
        var out = Tensor(channels: x.channels, height: outHeight, width: outWidth)
        var indices = [Int](repeating: 0, count: out.data.count)
        for c in 0..<x.channels {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let y0 = oy * stride - padding, x0 = ox * stride - padding
                    let (best, index) = windowMax(
                        x, channel: c, rows: Swift.max(y0, 0)..<Swift.min(y0 + kernel, x.height),
                        columns: Swift.max(x0, 0)..<Swift.min(x0 + kernel, x.width))
                    out.data[(c * outHeight + oy) * outWidth + ox] = best
                    indices[(c * outHeight + oy) * outWidth + ox] = index
                }
            }
        }
        return (out, indices)
    }

    /// `AdaptiveMaxPool2d(1)`: each channel's maximum and its index.
    public static func globalMax(_ x: Tensor) -> (output: [Float], indices: [Int]) {
        let maxima = (0..<x.channels).map { windowMax(x, channel: $0, rows: 0..<x.height, columns: 0..<x.width) }
        return (maxima.map(\.0), maxima.map(\.1))
    }

    /// The input's gradient: each output gradient added at its maximum.
    public static func backward(_ gradient: [Float], indices: [Int], channels: Int, height: Int, width: Int) -> Tensor {
        var out = Tensor(channels: channels, height: height, width: width)
        let perChannel = gradient.count / Swift.max(channels, 1)
        for c in 0..<channels {
            for i in 0..<perChannel {
                out.data[c * height * width + indices[c * perChannel + i]] += gradient[c * perChannel + i]
            }
        }
        return out
    }

    private static func windowMax(_ x: Tensor, channel c: Int, rows: Range<Int>, columns: Range<Int>) -> (Float, Int) {
        var best = -Float.infinity
        var index = rows.lowerBound * x.width + columns.lowerBound
        for y in rows {
            for column in columns {
                let value = x.data[(c * x.height + y) * x.width + column]
                if value > best || value.isNaN {
                    best = value
                    index = y * x.width + column
                }
            }
        }
        return (best, index)
    }
}
