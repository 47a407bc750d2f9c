import Core

/// Square images and maps brought to another side: area averaging down, bilinear up (as
/// PyTorch's `interpolate(mode="area")` and `mode="bilinear", align_corners=False`). Every
/// result is a function of its input alone, computed in a fixed order: the same bits
/// wherever it runs.
public enum Resample {
    /// `image` (square, any channels) at side `side`: the exact integer area average of the
    /// pixels each target pixel covers, rounded half up, when shrinking; bilinear when growing.
    public static func pixels(_ image: PixelImage, to side: Int) -> PixelImage {
        precondition(image.width == image.height && side >= 1)
        let n = image.width
        if side == n { return image }
        if side > n { return bilinearPixels(image, to: side) }
        let channels = image.channels
        let weights = areaWeights(from: n, to: side)
        // Horizontal pass: integer sums of weight × value, each weight a share of 1/side.
        var rows = [Int](repeating: 0, count: n * side * channels)
        image.pixels.withUnsafeBufferPointer { source in
            for y in 0..<n {
                for (x, taps) in weights.enumerated() {
                    for c in 0..<channels {
                        var sum = 0
                        for tap in taps { sum += tap.weight * Int(source[(y * n + tap.index) * channels + c]) }
                        rows[(y * side + x) * channels + c] = sum
                    }
                }
            }
        }
        // Vertical pass; each output's weights sum to n², so the average is the sum over n².
        let total = n * n
        var output = [UInt8](repeating: 0, count: side * side * channels)
        for (y, taps) in weights.enumerated() {
            for x in 0..<side {
                for c in 0..<channels {
                    var sum = 0
                    for tap in taps { sum += tap.weight * rows[(tap.index * side + x) * channels + c] }
                    output[(y * side + x) * channels + c] = UInt8((sum + total / 2) / total)
                }
            }
        }
        return PixelImage(width: side, height: side, channels: channels, pixels: output)
    }

    /// A square map of side `from` at side `to`: area average down, bilinear up.
    public static func map(_ values: [Float], from n: Int, to side: Int) -> [Float] {
        precondition(values.count == n * n && side >= 1)
        if side == n { return values }
        if side > n {
            let taps = bilinearTaps(from: n, to: side)
            return separable(values, n: n, side: side) { taps[$0].map { ($0.index, $0.weight) } }
        }
        let taps = areaWeights(from: n, to: side)
        return separable(values, n: n, side: side) { taps[$0].map { ($0.index, Float($0.weight) / Float(n)) } }
    }

    /// One tap of a separable filter: a source index and its weight.
    struct AreaTap { let index: Int; let weight: Int }

    /// For each of `side` target pixels over `n` source pixels, the source pixels it covers
    /// and by how much, in units of 1/side of a source pixel (each target's weights sum to n).
    static func areaWeights(from n: Int, to side: Int) -> [[AreaTap]] {
        (0..<side).map { j in
            // Target j covers [j·n, (j+1)·n) in units of 1/side; source i covers [i·side, (i+1)·side).
            let start = j * n, end = (j + 1) * n
            return (start / side...((end - 1) / side)).map { i in
                AreaTap(index: i, weight: min(end, (i + 1) * side) - max(start, i * side))
            }
        }
    }

    /// Bilinear taps with half-pixel centres (align_corners=False), edges clamped.
    static func bilinearTaps(from n: Int, to side: Int) -> [[(index: Int, weight: Float)]] {
        let scale = Float(n) / Float(side)
        return (0..<side).map { j in
            let position = max(0, (Float(j) + 0.5) * scale - 0.5)
            let i0 = min(Int(position), n - 1), i1 = min(i0 + 1, n - 1)
            let fraction = position - Float(i0)
            return i1 == i0 ? [(index: i0, weight: Float(1))] : [(index: i0, weight: 1 - fraction), (index: i1, weight: fraction)]
        }
    }

    private static func bilinearPixels(_ image: PixelImage, to side: Int) -> PixelImage {
        let channels = image.channels, n = image.width
        let taps = bilinearTaps(from: n, to: side)
        var planes = [UInt8](repeating: 0, count: side * side * channels)
        for c in 0..<channels {
            let plane = (0..<(n * n)).map { Float(image.pixels[$0 * channels + c]) }
            let grown = separable(plane, n: n, side: side) { taps[$0].map { ($0.index, $0.weight) } }
            for (i, value) in grown.enumerated() { planes[i * channels + c] = UInt8(min(255, max(0, value.rounded()))) }
        }
        return PixelImage(width: side, height: side, channels: channels, pixels: planes)
    }

    /// Rows then columns, each output the sum of its taps in order.
    private static func separable(_ values: [Float], n: Int, side: Int, taps: (Int) -> [(Int, Float)]) -> [Float] {
        let table = (0..<side).map(taps)
        var rows = [Float](repeating: 0, count: n * side)
        for y in 0..<n {
            for x in 0..<side {
                var sum: Float = 0
                for (i, w) in table[x] { sum += w * values[y * n + i] }
                rows[y * side + x] = sum
            }
        }
        var output = [Float](repeating: 0, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                var sum: Float = 0
                for (i, w) in table[y] { sum += w * rows[i * side + x] }
                output[y * side + x] = sum
            }
        }
        return output
    }
}
