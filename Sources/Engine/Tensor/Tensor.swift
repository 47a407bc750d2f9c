import Core

/// A float32 feature map of one image: channels × height × width, row-major within a
/// channel (PyTorch's NCHW with N = 1).
public struct Tensor: Sendable, Equatable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public var data: [Float]

    /// A tensor of zeros.
    public init(channels: Int, height: Int, width: Int) {
        precondition(channels >= 0 && height >= 0 && width >= 0)
        self.channels = channels
        self.height = height
        self.width = width
        data = [Float](repeating: 0, count: channels * height * width)
    }

    /// A tensor whose values are left as the allocator gives them, for outputs a kernel
    /// writes in full (zeroing them first cost a pass over memory per layer).
    public init(uninitializedChannels channels: Int, height: Int, width: Int) {
        precondition(channels >= 0 && height >= 0 && width >= 0)
        self.channels = channels
        self.height = height
        self.width = width
        let count = channels * height * width
        data = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// A tensor over `data`, which must hold channels × height × width values.
    public init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == channels * height * width, "\(data.count) values for \(channels)×\(height)×\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    /// Values of one channel plane.
    public var planeSize: Int { height * width }

    /// Value at channel c, row y, column x.
    @inlinable
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { data[(c * height + y) * width + x] }
        set { data[(c * height + y) * width + x] = newValue }
    }

    /// The tensor of an RGB tile, scaled to [0, 1] and normalised per channel as
    /// torchvision does: (v / 255 − mean) / std.
    public init(rgb image: [UInt8], width: Int, height: Int, mean: [Float], std: [Float]) {
        precondition(image.count == width * height * 3)
        self.init(uninitializedChannels: 3, height: height, width: width)
        let plane = width * height
        image.withUnsafeBufferPointer { pixels in
            data.withUnsafeMutableBufferPointer { values in
                let source = DisjointPointer(UnsafeMutablePointer(mutating: pixels.baseAddress!)), target = DisjointPointer(values.baseAddress!)
                Parallel.forEach(3) { c in
                    // The same expression as torchvision's, value by value.
                    let m = mean[c], s = std[c], channel = target.base + c * plane
                    for i in 0..<plane { channel[i] = (Float(source.base[i &* 3 &+ c]) / 255 - m) / s }
                }
            }
        }
    }

    /// Channels of `parts` stacked, in order (torch.cat along dim 1). Sizes must agree.
    public static func concatenate(_ parts: [Tensor]) -> Tensor {
        var out = Tensor(uninitializedChannels: parts.reduce(0) { $0 + $1.channels }, height: parts[0].height, width: parts[0].width)
        var offset = 0
        for part in parts {
            copyChannels(from: part, into: &out, channelOffset: offset)
            offset += part.channels
        }
        return out
    }

    /// Adds `b` element-wise, in place, on the engine's threads (residual connections).
    public static func += (a: inout Tensor, b: Tensor) {
        precondition(a.channels == b.channels && a.height == b.height && a.width == b.width)
        a.data.withUnsafeMutableBufferPointer { o in
            b.data.withUnsafeBufferPointer { b in
                let target = DisjointPointer(o.baseAddress!), source = DisjointPointer(UnsafeMutablePointer(mutating: b.baseAddress!))
                Parallel.forEachRange(o.count, chunks: Parallel.chunks(forElements: o.count)) { range in
                    for i in range { target.base[i] += source.base[i] }
                }
            }
        }
    }

    /// Every `stride`-th pixel of every `stride`-th row, starting at (0, 0), for an output
    /// of height × width (what a 1×1 strided convolution reads).
    public func subsampled(stride: Int, height outHeight: Int, width outWidth: Int) -> Tensor {
        precondition((outHeight - 1) * stride < height && (outWidth - 1) * stride < width)
        var out = Tensor(uninitializedChannels: channels, height: outHeight, width: outWidth)
        let inWidth = width
        Tensor.forEachChannel(from: self, into: &out) { _, plane, result in
            for oy in 0..<outHeight {
                let from = plane + oy * stride * inWidth, to = result + oy * outWidth
                for ox in 0..<outWidth { to[ox] = from[ox &* stride] }
            }
        }
        return out
    }

    /// Runs `body(c, input, output)` for every channel c on the engine's threads, with
    /// channel c's plane of `x` and channel `channelOffset` + c's of `out`: the frame of every
    /// layer that maps each channel on its own. A nonzero offset writes x's channels into
    /// their place in a concatenation, which then needs no copy.
    static func forEachChannel(
        from x: Tensor, into out: inout Tensor, channelOffset: Int = 0,
        _ body: (_ channel: Int, _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) -> Void
    ) {
        precondition(channelOffset >= 0 && channelOffset + x.channels <= out.channels, "channels outside the output map")
        let inPlane = x.planeSize, outPlane = out.planeSize
        x.data.withUnsafeBufferPointer { input in
            out.data.withUnsafeMutableBufferPointer { output in
                let source = DisjointPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                let target = DisjointPointer(output.baseAddress! + channelOffset * outPlane)
                Parallel.forEach(x.channels) { c in body(c, source.base + c * inPlane, target.base + c * outPlane) }
            }
        }
    }

    /// Copies x's channels into `out` from channel `channelOffset` on (same plane size).
    static func copyChannels(from x: Tensor, into out: inout Tensor, channelOffset: Int) {
        precondition(x.height == out.height && x.width == out.width, "concatenated maps differ in size")
        let plane = x.planeSize
        forEachChannel(from: x, into: &out, channelOffset: channelOffset) { _, from, to in to.update(from: from, count: plane) }
    }

    /// Multiplies every value of channel c by `scales[c]`, in place.
    public mutating func scaleChannels(by scales: [Float]) {
        precondition(scales.count == channels)
        let plane = planeSize
        data.withUnsafeMutableBufferPointer { values in
            let base = DisjointPointer(values.baseAddress!)
            Parallel.forEach(channels) { c in
                let scale = scales[c], start = base.base + c * plane
                for i in 0..<plane { start[i] *= scale }
            }
        }
    }
}
