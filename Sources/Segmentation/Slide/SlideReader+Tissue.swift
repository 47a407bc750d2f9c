import Core
import Foundation
import Tiling

extension TissueMap {
    /// The tissue of the slide `reader` serves, as `detection` says; nil when it is off.
    ///
    /// Every pixel of the slide is read once, a band of `scale` rows at a time. Each method
    /// computes only what it needs, without a division per pixel: `saturation` tests
    /// s > limit as (max − min) · 255 ≥ (limit + 1) · max, which is the same test for the
    /// rounded-down s; `otsu` sums s from a table of (max, min). The bands are shared out
    /// in runs among `threads` threads, each with a reader of its own (the pass runs
    /// before any tile, while the cores are free); every block is summed whole by one
    /// thread, so the map does not depend on their number.
    public static func detect(
        _ reader: SlideReader, _ detection: TissueDetection, threads: Int = min(4, ProcessInfo.processInfo.activeProcessorCount)
    ) throws -> TissueMap? {
        guard detection.method != .off else { return nil }
        let scale = max(1, detection.scale)
        let width = (reader.width + scale - 1) / scale, height = (reader.height + scale - 1) / scale
        var blockValues = [Double](repeating: 0, count: width * height)
        let parts = max(1, min(threads, height))
        var failures = [Error?](repeating: nil, count: parts)
        let readers = try (0..<parts).map { part in
            part == 0 ? reader : try SlideReader(path: reader.path, cacheBytes: 16 << 20, downsample: reader.downsample, backend: reader.backend)
        }
        blockValues.withUnsafeMutableBufferPointer { values in
            failures.withUnsafeMutableBufferPointer { errors in
                let (target, failed) = (DisjointPointer(values.baseAddress!), DisjointPointer(errors.baseAddress!))
                let readerBox = UncheckedBox(readers)
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    do {
                        for by in (part * height / parts)..<((part + 1) * height / parts) {
                            try bandValues(readerBox.value[part], detection, blockRow: by, scale: scale, width: width, into: target.base + by * width)
                        }
                    } catch {
                        failed.base[part] = error
                    }
                }
            }
        }
        if let failure = failures.compactMap({ $0 }).first { throw failure }
        var tissue: [Bool]
        switch detection.method {
        case .off: return nil
        case .saturation: tissue = blockValues.map(isStained)
        case .otsu:
            let threshold = otsu(blockValues)
            tissue = blockValues.map { $0 > threshold }
        }
        return TissueMap(scale: scale, width: width, height: height, tissue: grow(tissue, width: width, height: height, by: detection.margin))
    }

    /// The values of block row `by` (`width` blocks): the stained fraction (`saturation`)
    /// or the mean saturation in 0…1 (`otsu`) of each block's pixels.
    private static func bandValues(
        _ reader: SlideReader, _ detection: TissueDetection, blockRow by: Int, scale: Int, width: Int, into values: UnsafeMutablePointer<Double>
    ) throws {
        let y = by * scale, rows = min(scale, reader.height - y)
        let limit = saturationLimit(detection)
        let band = try reader.readRGB(x: 0, y: y, width: reader.width, height: rows)
        var sums = [Int](repeating: 0, count: width)
        band.pixels.withUnsafeBufferPointer { p in
            for row in 0..<rows {
                let line = UnsafeBufferPointer(rebasing: p[(row * reader.width * 3)..<((row + 1) * reader.width * 3)])
                for bx in 0..<width {
                    let pixels = (bx * scale)..<min((bx + 1) * scale, reader.width)
                    sums[bx] += detection.method == .otsu ? saturationSum(line, pixels) : stainedCount(line, pixels, above: limit)
                }
            }
        }
        for bx in 0..<width {
            let count = Double(rows * min(scale, reader.width - bx * scale))
            values[bx] = detection.method == .otsu ? Double(sums[bx]) / count / 255 : Double(sums[bx]) / count
        }
    }

    /// The `saturation` method's limit on a pixel's saturation, in 0…255.
    static func saturationLimit(_ detection: TissueDetection) -> Int { Int((detection.saturation * 255).rounded()) }

    /// Whether a block whose stained fraction is `fraction` holds tissue (`saturation`).
    static func isStained(_ fraction: Double) -> Bool { fraction >= 0.01 }

    /// How many of the RGB pixels `range` of `line` have a saturation above `limit`.
    @inline(__always)
    static func stainedCount(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, above limit: Int) -> Int {
        guard limit >= 0 else { return range.count }
        var count = 0
        let threshold = Int32(limit + 1)
        for x in range {
            let r = line[3 * x], g = line[3 * x + 1], b = line[3 * x + 2]
            let high = Int32(max(r, g, b)), low = Int32(min(r, g, b))
            count += high > 0 && (high - low) * 255 >= threshold * high ? 1 : 0
        }
        return count
    }

    /// The sum of the saturations (0…255) of the RGB pixels `range` of `line`.
    @inline(__always)
    private static func saturationSum(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        var sum = 0
        saturationTable.withUnsafeBufferPointer { table in
            for x in range {
                let r = line[3 * x], g = line[3 * x + 1], b = line[3 * x + 2]
                sum += Int(table[Int(max(r, g, b)) << 8 | Int(min(r, g, b))])
            }
        }
        return sum
    }

    /// `saturation` by max << 8 | min.
    private static let saturationTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 1 << 16)
        for high in 0..<256 {
            for low in 0...high { table[high << 8 | low] = UInt8(saturation(high, low, low)) }
        }
        return table
    }()
}
