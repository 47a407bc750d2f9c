import Shared

/// Pooling as PyTorch computes it.
public enum Pooling {
    /// `nn.MaxPool2d(kernel, stride, padding)`: padding never wins (−∞), floor sizing.
    public static func max(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
        let outHeight = (x.height + 2 * padding - kernel) / stride + 1
        let outWidth = (x.width + 2 * padding - kernel) / stride + 1
        var out = Tensor(channels: x.channels, height: outHeight, width: outWidth)
        for c in 0..<x.channels {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var best = -Float.infinity
                    for ky in 0..<kernel {
                        let y = oy * stride - padding + ky
                        guard y >= 0 && y < x.height else { continue }
                        for kx in 0..<kernel {
                            let xx = ox * stride - padding + kx
                            guard xx >= 0 && xx < x.width else { continue }
                            best = Swift.max(best, x[c, y, xx])
                        }
                    }
                    out[c, oy, ox] = best
                }
            }
        }
        return out
    }

    /// `AdaptiveAvgPool2d(1)`: one mean per channel.
    public static func globalAverage(_ x: Tensor) -> [Float] {
        var means = [Float](repeating: 0, count: x.channels)
        let plane = x.planeSize
        x.data.withUnsafeBufferPointer { values in
            means.withUnsafeMutableBufferPointer { means in
                let source = DisjointPointer(UnsafeMutablePointer(mutating: values.baseAddress!)), target = DisjointPointer(means.baseAddress!)
                Parallel.forEach(x.channels) { c in
                    var sum: Float = 0
                    for i in 0..<plane { sum += source.base[c * plane + i] }
                    target.base[c] = sum / Float(plane)
                }
            }
        }
        return means
    }

    /// `AdaptiveMaxPool2d(1)`: one maximum per channel.
    public static func globalMax(_ x: Tensor) -> [Float] {
        (0..<x.channels).map { c in
            x.data[(c * x.planeSize)..<((c + 1) * x.planeSize)].max() ?? 0
        }
    }
}
