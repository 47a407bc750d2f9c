import Core
import Foundation

extension Resampling {
    /// The input's gradient of `bilinear` from the output's: each output gradient shared
    /// among its four sources with the forward pass's weights (the same coordinates).
    public static func bilinearBackward(_ gradient: Tensor, inputHeight: Int, inputWidth: Int, alignCorners: Bool) -> Tensor {
        let ys = bilinearCoordinates(gradient.height, inputHeight, alignCorners: alignCorners)
        let xs = bilinearCoordinates(gradient.width, inputWidth, alignCorners: alignCorners)
        var out = Tensor(channels: gradient.channels, height: inputHeight, width: inputWidth)
        for c in 0..<gradient.channels {
            let plane = c * inputHeight * inputWidth
            for (oy, (y0, y1, wy)) in ys.enumerated() {
                for (ox, (x0, x1, wx)) in xs.enumerated() {
                    let g = gradient.data[(c * gradient.height + oy) * gradient.width + ox]
                    out.data[plane + y0 * inputWidth + x0] += (1 - wy) * (1 - wx) * g
                    out.data[plane + y0 * inputWidth + x1] += (1 - wy) * wx * g
                    out.data[plane + y1 * inputWidth + x0] += wy * (1 - wx) * g
                    out.data[plane + y1 * inputWidth + x1] += wy * wx * g
                }
            }
        }
        return out
    }

    /// The input's gradient of `pixelShuffle`: the same permutation, inverted.
    public static func pixelShuffleBackward(_ gradient: Tensor, factor r: Int) -> Tensor {
        let channels = gradient.channels * r * r, height = gradient.height / r, width = gradient.width / r
        var out = Tensor(channels: channels, height: height, width: width)
        for c in 0..<gradient.channels {
            for i in 0..<r {
                for j in 0..<r {
                    for y in 0..<height {
                        for x in 0..<width {
                            out.data[((c * r * r + i * r + j) * height + y) * width + x] =
                                gradient.data[(c * gradient.height + y * r + i) * gradient.width + x * r + j]
                        }
                    }
                }
            }
        }
        return out
    }
}
