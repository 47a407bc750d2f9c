import Core
import Tiling

extension TissueMap {
    /// The tissue of the slide `reader` serves, as `detection` says; nil when it is off.
    public static func detect(_ reader: SlideReader, _ detection: TissueDetection) throws -> TissueMap? {
        guard detection.method != .off else { return nil }
        let scale = max(1, detection.scale)
        let width = (reader.width + scale - 1) / scale, height = (reader.height + scale - 1) / scale
        var saturated = [Double](repeating: 0, count: width * height), meanSaturation = saturated
        let limit = Int((detection.saturation * 255).rounded())
        for by in 0..<height {
            let y = by * scale, rows = min(scale, reader.height - y)
            let band = try reader.readRGB(x: 0, y: y, width: reader.width, height: rows)
            var stained = [Int](repeating: 0, count: width), total = [Int](repeating: 0, count: width)
            band.pixels.withUnsafeBufferPointer { p in
                for row in 0..<rows {
                    var offset = row * reader.width * 3
                    for x in 0..<reader.width {
                        let r = Int(p[offset]), g = Int(p[offset + 1]), b = Int(p[offset + 2])
                        offset += 3
                        let s = saturation(r, g, b)
                        if s > limit { stained[x / scale] += 1 }
                        total[x / scale] += s
                    }
                }
            }
            for bx in 0..<width {
                let count = Double(rows * min(scale, reader.width - bx * scale))
                saturated[by * width + bx] = Double(stained[bx]) / count
                meanSaturation[by * width + bx] = Double(total[bx]) / count / 255
            }
        }
        var tissue: [Bool]
        switch detection.method {
        case .off: return nil
        case .saturation: tissue = saturated.map { $0 >= 0.01 }
        case .otsu:
            let threshold = otsu(meanSaturation)
            tissue = meanSaturation.map { $0 > threshold }
        }
        return TissueMap(scale: scale, width: width, height: height, tissue: grow(tissue, width: width, height: height, by: detection.margin))
    }
}
