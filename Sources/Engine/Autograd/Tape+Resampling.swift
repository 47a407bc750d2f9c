import Core
import Foundation

/// Pooling, resampling and concatenation on the tape.
extension Tape {
    /// `nn.MaxPool2d(kernel, stride, padding)`.
    public func maxPool(_ x: Variable, kernel: Int, stride: Int, padding: Int) -> Variable {
        let xHandle = x.handle
        let pooled = Self.mapImages(x.value) { PoolingTraining.max($0, kernel: kernel, stride: stride, padding: padding) }
        let (channels, height, width) = (x.value[0].channels, x.value[0].height, x.value[0].width)
        return record(pooled.map(\.output)) { [unowned self] dy in
            accumulate(
                xHandle,
                Self.mapImages(dy.indices.map { $0 }) { b in
                    PoolingTraining.backward(dy[b].data, indices: pooled[b].indices, channels: channels, height: height, width: width)
                })
        }
    }

    /// `nn.AdaptiveMaxPool2d(1)`: C×1×1 per image.
    public func globalMax(_ x: Variable) -> Variable {
        let xHandle = x.handle
        let pooled = x.value.map { PoolingTraining.globalMax($0) }
        let (channels, height, width) = (x.value[0].channels, x.value[0].height, x.value[0].width)
        let y = pooled.map { Tensor(channels: channels, height: 1, width: 1, data: $0.output) }
        return record(y) { [unowned self] dy in
            accumulate(
                xHandle,
                dy.indices.map { b in
                    PoolingTraining.backward(dy[b].data, indices: pooled[b].indices, channels: channels, height: height, width: width)
                })
        }
    }

    /// `F.interpolate(mode="bilinear")` to height × width.
    public func bilinear(_ x: Variable, height: Int, width: Int, alignCorners: Bool) -> Variable {
        let xHandle = x.handle
        let y = Self.mapImages(x.value) { Resampling.bilinear($0, height: height, width: width, alignCorners: alignCorners) }
        let (inputHeight, inputWidth) = (x.value[0].height, x.value[0].width)
        return record(y) { [unowned self] dy in
            accumulate(
                xHandle,
                Self.mapImages(dy) {
                    Resampling.bilinearBackward($0, inputHeight: inputHeight, inputWidth: inputWidth, alignCorners: alignCorners)
                })
        }
    }

    /// `nn.PixelShuffle(factor)`.
    public func pixelShuffle(_ x: Variable, factor: Int) -> Variable {
        let xHandle = x.handle
        let y = Self.mapImages(x.value) { Resampling.pixelShuffle($0, factor: factor) }
        return record(y) { [unowned self] dy in accumulate(xHandle, Self.mapImages(dy) { Resampling.pixelShuffleBackward($0, factor: factor) }) }
    }

    /// `torch.cat(parts, dim=1)`.
    public func concatenate(_ parts: [Variable]) -> Variable {
        let y = Self.mapImages(parts[0].value.indices.map { $0 }) { b in Tensor.concatenate(parts.map { $0.value[b] }) }
        let handles = parts.map(\.handle), shapes = parts.map { ($0.value[0].channels, $0.value[0].height, $0.value[0].width) }
        return record(y) { [unowned self] dy in
            var offset = 0
            for (handle, (channels, height, width)) in zip(handles, shapes) {
                let count = channels * height * width, start = offset
                accumulate(handle, dy.map { Tensor(channels: channels, height: height, width: width, data: Array($0.data[start..<(start + count)])) })
                offset += count
            }
        }
    }
}
