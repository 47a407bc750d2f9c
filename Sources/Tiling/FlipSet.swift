import Core

/// Test-time augmentation by flips: the tile is predicted as is and flipped, each
/// prediction flipped back, and all averaged (in this fixed order, in Float).
public enum FlipSet: String, Sendable, Equatable, CaseIterable {
    case none
    /// Also left-right.
    case h
    /// Also top-bottom.
    case v
    /// Also left-right, top-bottom and both.
    case hv

    /// (horizontal, vertical) flips to predict, the identity first.
    var variants: [(Bool, Bool)] {
        switch self {
        case .none: [(false, false)]
        case .h: [(false, false), (true, false)]
        case .v: [(false, false), (false, true)]
        case .hv: [(false, false), (true, false), (false, true), (true, true)]
        }
    }

    /// Predicts `tile` under every flip of the set and averages the maps.
    public func predict(_ tile: PixelImage, with predictor: TilePredictor) throws -> [Float] {
        let variants = self.variants
        var sum: [Float] = []
        for (h, v) in variants {
            let input = (h || v) ? Self.flip(tile, h, v) : tile
            var map = try predictor.predict(input)
            guard map.count == tile.width * tile.height else {
                throw TesseraError(predictor.name, "returned \(map.count) values for a \(tile.width)×\(tile.height) tile", code: .mismatch)
            }
            if h || v {
                map = Self.flip(PixelMap(width: tile.width, height: tile.height, values: map), h, v).values
            }
            if sum.isEmpty { sum = map } else { for i in sum.indices { sum[i] += map[i] } }
        }
        if variants.count > 1 {
            let scale = 1 / Float(variants.count)
            for i in sum.indices { sum[i] *= scale }
        }
        return sum
    }

    struct PixelMap { let width: Int; let height: Int; var values: [Float] }

    static func flip(_ image: PixelImage, _ h: Bool, _ v: Bool) -> PixelImage {
        var out = image
        for y in 0..<image.height {
            let sy = v ? image.height - 1 - y : y
            for x in 0..<image.width {
                let sx = h ? image.width - 1 - x : x
                for c in 0..<image.channels { out[x, y, c] = image[sx, sy, c] }
            }
        }
        return out
    }

    static func flip(_ map: PixelMap, _ h: Bool, _ v: Bool) -> PixelMap {
        var out = map
        for y in 0..<map.height {
            let sy = v ? map.height - 1 - y : y
            for x in 0..<map.width {
                out.values[y * map.width + x] = map.values[sy * map.width + (h ? map.width - 1 - x : x)]
            }
        }
        return out
    }
}
