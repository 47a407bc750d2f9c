/// An 8-bit image held in memory, row-major and channel-interleaved: pixel (x, y) channel c
/// is `pixels[(y * width + x) * channels + c]`.
///
/// Used for tiles and rectangles of slides (3 channels, RGB) and of masks (1 channel).
public struct PixelImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 1 (grey or mask) or 3 (RGB).
    public let channels: Int
    public var pixels: [UInt8]

    /// An image filled with `value`.
    public init(width: Int, height: Int, channels: Int, value: UInt8 = 0) {
        precondition(width >= 0 && height >= 0 && channels > 0)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = [UInt8](repeating: value, count: width * height * channels)
    }

    /// An image over existing pixels, which must number `width * height * channels`.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "pixel count does not match the size")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// Channel `c` of pixel (x, y).
    @inlinable
    public subscript(x: Int, y: Int, c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    /// The first channel only: a mask or grey view of this image.
    public func firstChannel() -> PixelImage {
        if channels == 1 { return self }
        var grey = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { source in
            for i in 0..<grey.count { grey[i] = source[i * channels] }
        }
        return PixelImage(width: width, height: height, channels: 1, pixels: grey)
    }
}
