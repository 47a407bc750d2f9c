import Core

/// Pooling as PyTorch computes it.
public enum Pooling {
    /// `nn.MaxPool2d(kernel, stride, padding)`: padding never wins (−∞), floor sizing.
    public static func max(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
        let outHeight = (x.height + 2 * padding - kernel) / stride + 1
        let outWidth = (x.width + 2 * padding - kernel) / stride + 1
        var out = Tensor(uninitializedChannels: x.channels, height: outHeight, width: outWidth)
        let height = x.height, width = x.width
        // Output columns [first, end) whose window lies wholly inside the row.
        let first = Swift.min((padding + stride - 1) / stride, outWidth)
        let end = Swift.max(first, Swift.min(outWidth, width - kernel + padding >= 0 ? (width - kernel + padding) / stride + 1 : 0))
        Tensor.forEachChannel(from: x, into: &out) { _, plane, result in
            for oy in 0..<outHeight {
                let line = result + oy * outWidth
                for ox in 0..<outWidth { line[ox] = -Float.infinity }
                for ky in 0..<kernel {
                    let y = oy * stride - padding + ky
                    guard y >= 0 && y < height else { continue }
                    let row = plane + y * width
                    for ox in 0..<first { line[ox] = window(row, ox, ky: ky, kernel, stride, padding, width, line[ox]) }
                    for ox in first..<end {
                        var best = line[ox]
                        let start = row + (ox &* stride &- padding)
                        for kx in 0..<kernel { best = Swift.max(best, start[kx]) }
                        line[ox] = best
                    }
                    for ox in end..<outWidth { line[ox] = window(row, ox, ky: ky, kernel, stride, padding, width, line[ox]) }
                }
            }
        }
        return out
    }

    /// The running maximum `best` updated with one kernel row of a window at the border.
    @inline(__always)
    private static func window(
        _ row: UnsafePointer<Float>, _ ox: Int, ky: Int, _ kernel: Int, _ stride: Int,
        _ padding: Int, _ width: Int, _ best: Float
    ) -> Float {
        var best = best
        for kx in 0..<kernel {
            let column = ox * stride - padding + kx
            if column >= 0 && column < width { best = Swift.max(best, row[column]) }
        }
        return best
    }

    /// `AdaptiveMaxPool2d(1)`: one maximum per channel.
    public static func globalMax(_ x: Tensor) -> [Float] {
        (0..<x.channels).map { c in
            x.data[(c * x.planeSize)..<((c + 1) * x.planeSize)].max() ?? 0
        }
    }
}
