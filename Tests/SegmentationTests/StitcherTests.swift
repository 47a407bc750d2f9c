import Core
import Testing

@testable import Segmentation
@testable import Tiling

@Suite struct StitcherTests {
    /// A grey test image with structure at every scale.
    static func image(width: Int, height: Int) -> [UInt8] {
        (0..<(width * height)).map { i in
            let x = i % width, y = i / width
            return UInt8((x * 31 + y * 17 + (x * y) % 23 + (x ^ y)) % 256)
        }
    }

    /// Runs the stitcher over every tile in `order`, predicting with `predict`, and returns
    /// all rows as fixed-point probabilities, checking rows come out in sequence.
    static func stitch(
        _ plan: TilePlan, _ window: BlendWindow, members: [Int] = [1], order: [TileIndex],
        predict: (TileIndex, Int) -> [UInt16]
    ) throws -> [UInt16] {
        let stitcher = try Stitcher(plan: plan, window: window, memberWeights: members)
        var output: [UInt16] = []
        for tile in order {
            for member in members.indices { try stitcher.add(tile: tile, member: member, map: predict(tile, member)) }
            while let rows = stitcher.takeFinishedRows() {
                #expect(rows.firstRow * plan.imageWidth == output.count)
                output += rows.probabilities
            }
        }
        #expect(stitcher.isComplete)
        return output
    }

    /// The tile of a grey image as fixed-point values, reflecting outside as the reader does.
    static func identity(_ pixels: [UInt8], _ plan: TilePlan, _ tile: TileIndex) -> [UInt16] {
        let (x0, y0) = plan.origin(of: tile)
        let t = plan.tileSize
        return (0..<(t * t)).map { i in
            let x = reflectIndex(x0 + i % t, count: plan.imageWidth), y = reflectIndex(y0 + i / t, count: plan.imageHeight)
            return Probability.fromByte(pixels[y * plan.imageWidth + x])
        }
    }

    @Test(arguments: BlendWindow.allCases)
    func constantPredictorGivesThatConstantEverywhere(window: BlendWindow) throws {
        for (w, h) in [(100, 37), (20, 20), (257, 129)] {
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tileSize: 32, margin: 6)
            let value: UInt16 = 40_000
            let out = try Self.stitch(plan, window, order: plan.tiles) { _, _ in Array(repeating: value, count: 32 * 32) }
            #expect(out.count == w * h)
            #expect(out.allSatisfy { $0 == value })
        }
    }

    @Test(arguments: BlendWindow.allCases)
    func identityPredictorReconstructsTheSlideExactly(window: BlendWindow) throws {
        for (w, h, stride) in [(100, 37, nil), (13, 9, nil), (150, 70, 11)] as [(Int, Int, Int?)] {
            let pixels = Self.image(width: w, height: h)
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tileSize: 32, margin: 6, stride: stride)
            let out = try Self.stitch(plan, window, order: plan.tiles) { tile, _ in Self.identity(pixels, plan, tile) }
            #expect(out.map(Probability.toByte) == pixels)
        }
    }

    @Test(arguments: BlendWindow.allCases)
    func shufflingTilesChangesNoBit(window: BlendWindow) throws {
        let (w, h) = (190, 120)
        let plan = try TilePlan(imageWidth: w, imageHeight: h, tileSize: 48, margin: 8, stride: 20)
        // A predictor whose tiles disagree, so blending weights matter at every pixel.
        func predict(_ tile: TileIndex, _ member: Int) -> [UInt16] {
            (0..<(48 * 48)).map { UInt16(truncatingIfNeeded: ($0 * 7919 + tile.row * 104_729 + tile.column * 1_299_709 + member * 7) % 65536) }
        }
        let reference = try Self.stitch(plan, window, members: [3, 1], order: plan.tiles, predict: predict)
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<3 {
            let shuffled = plan.tiles.shuffled(using: &generator)
            #expect(try Self.stitch(plan, window, members: [3, 1], order: shuffled, predict: predict) == reference)
        }
    }

    @Test func membersAreAveragedByWeight() throws {
        let plan = try TilePlan(imageWidth: 40, imageHeight: 30, tileSize: 16, margin: 2)
        let out = try Self.stitch(plan, .gaussian, members: [3, 1], order: plan.tiles) { _, member in
            Array(repeating: member == 0 ? 65535 : 0, count: 256)
        }
        #expect(out.allSatisfy { $0 == 49151 })  // (3 × 65535 + 1 × 0) / 4, rounded
    }

    @Test func rowsLeaveAsSoonAsTheyAreFinal() throws {
        let plan = try TilePlan(imageWidth: 64, imageHeight: 200, tileSize: 32, margin: 4)
        let stitcher = try Stitcher(plan: plan, window: .constantCrop)
        let map = [UInt16](repeating: 1, count: 32 * 32)
        for tile in plan.tiles(inRow: 0) { try stitcher.add(tile: tile, member: 0, map: map) }
        let first = try #require(stitcher.takeFinishedRows())
        #expect(first.firstRow == 0 && first.rows == 24 - 4)  // up to tile row 1's top edge
        #expect(stitcher.takeFinishedRows() == nil)
    }

    @Test func theFastQuotientIsExact() {
        var generator = SeededGenerator(seed: 9)
        for _ in 0..<300_000 {
            // Norms as the stitcher makes them: up to 4096² × 1024 × overlaps.
            let norm = Int64.random(in: 1...(Int64(1) << 40), using: &generator)
            let q = Int64.random(in: 0...65535, using: &generator)
            let sum = min(q * norm + Int64.random(in: -norm...norm, using: &generator), 65535 * norm)
            guard sum >= 0 else { continue }
            let exact = UInt16((sum + norm / 2) / norm)
            #expect(Stitcher.roundedQuotient(sum, norm) == exact)
            // As takeFinishedRows calls it: the reciprocal a product of two, a few ulps off.
            let split = Int64.random(in: 1...4096, using: &generator)
            let reciprocal = (1 / Double(split)) * (1 / Double(norm)) * Double(split)
            #expect(Stitcher.roundedQuotient(sum, norm, reciprocal: reciprocal) == exact)
        }
        #expect(Stitcher.roundedQuotient(65535 * 7, 7) == 65535 && Stitcher.roundedQuotient(3, 7) == 0 && Stitcher.roundedQuotient(4, 7) == 1)
    }

    /// The mask path thresholds exactly as the probability path, at every threshold kind.
    @Test(arguments: BlendWindow.allCases)
    func maskRowsEqualThresholdedProbabilities(window: BlendWindow) throws {
        let plan = try TilePlan(imageWidth: 150, imageHeight: 70, tileSize: 32, margin: 6, stride: 11)
        var generator = SeededGenerator(seed: 3)
        var maps: [TileIndex: [[UInt16]]] = [:]
        for tile in plan.tiles { maps[tile] = (0..<2).map { _ in (0..<(32 * 32)).map { _ in UInt16.random(in: 0...65535, using: &generator) } } }
        for threshold: UInt16 in [0, 1, 32768, 40000, 65535] {
            let a = try Stitcher(plan: plan, window: window, memberWeights: [3, 1])
            let b = try Stitcher(plan: plan, window: window, memberWeights: [3, 1])
            var probabilities: [UInt16] = [], mask: [UInt8] = [], foreground = 0
            for tile in plan.tiles.shuffled(using: &generator) {
                for member in 0..<2 {
                    try a.add(tile: tile, member: member, map: maps[tile]![member])
                    try b.add(tile: tile, member: member, map: maps[tile]![member])
                }
                while let rows = a.takeFinishedRows() { probabilities += rows.probabilities }
                while let rows = b.takeFinishedMaskRows(threshold: threshold) {
                    #expect(rows.firstRow * plan.imageWidth == mask.count)
                    mask += rows.mask
                    foreground += rows.foreground
                }
            }
            #expect(mask == probabilities.map { $0 >= threshold ? 255 : 0 }, "threshold \(threshold)")
            #expect(foreground == mask.filter { $0 != 0 }.count)
        }
    }

    /// Adding a map as it travels gives the rows that decoding it first (`MapEncoding.decode`) gives.
    @Test(arguments: [MapEncoding.uint8, .float16])
    func encodedMapsAddAsTheirDecoding(encoding: MapEncoding) throws {
        let plan = try TilePlan(imageWidth: 70, imageHeight: 50, tileSize: 32, margin: 6)
        let direct = try Stitcher(plan: plan, window: .gaussian), decoded = try Stitcher(plan: plan, window: .gaussian)
        var values = SeededGenerator(seed: 5)
        for tile in plan.tiles {
            let map = encoding.encode((0..<(32 * 32)).map { _ in Float.random(in: -0.1...1.1, using: &values) })
            try map.withUnsafeBufferPointer { try direct.add(tile: tile, member: 0, encoded: $0, encoding: encoding) }
            try decoded.add(tile: tile, member: 0, map: encoding.decode(map, pixels: 32 * 32)!)
        }
        #expect(direct.takeFinishedRows()?.probabilities == decoded.takeFinishedRows()?.probabilities)
        #expect(throws: TesseraError.self) {
            try [UInt8](repeating: 0, count: 7).withUnsafeBufferPointer {
                try direct.add(tile: TileIndex(row: 0, column: 0), member: 0, encoded: $0, encoding: .float16)
            }
        }
    }

    /// A map without the margin the constant window ignores (as workers send it) gives the
    /// rows the whole map gives; an inset that would leave out weighted pixels is refused.
    @Test(arguments: [MapEncoding.uint8, .float16])
    func insetMapsAddAsWholeOnes(encoding: MapEncoding) throws {
        let plan = try TilePlan(imageWidth: 70, imageHeight: 50, tileSize: 32, margin: 6)
        let settings = SegmentationSettings(tileSize: 32, margin: 6, window: .constantCrop, maps: encoding)
        #expect(settings.mapInset == 6)
        let whole = try Stitcher(plan: plan, window: .constantCrop), inset = try Stitcher(plan: plan, window: .constantCrop)
        var values = SeededGenerator(seed: 8)
        for tile in plan.tiles {
            let probabilities = (0..<(32 * 32)).map { _ in Float.random(in: 0...1, using: &values) }
            let full = encoding.encode(probabilities)
            let cropped = encoding.encode(probabilities, size: 32, inset: 6)
            #expect(cropped.count == 20 * 20 * encoding.bytesPerPixel)
            try full.withUnsafeBufferPointer { try whole.add(tile: tile, member: 0, encoded: $0, encoding: encoding) }
            try cropped.withUnsafeBufferPointer { try inset.add(tile: tile, member: 0, encoded: $0, encoding: encoding, inset: 6) }
        }
        #expect(whole.takeFinishedRows()?.probabilities == inset.takeFinishedRows()?.probabilities)

        #expect(SegmentationSettings(tileSize: 32, margin: 6, window: .linear).mapInset == 0)
        let linear = try Stitcher(plan: plan, window: .linear)
        let small = [UInt8](repeating: 0, count: 20 * 20 * encoding.bytesPerPixel)
        #expect(throws: TesseraError.self) {
            try small.withUnsafeBufferPointer { try linear.add(tile: TileIndex(row: 0, column: 0), member: 0, encoded: $0, encoding: encoding, inset: 6) }
        }
    }

    /// Tiles over glass added as zeros give the rows that maps of zeros give, among tiles
    /// with other values, in any order; a tile added twice that way is refused too.
    @Test(arguments: BlendWindow.allCases)
    func zerosAddAsMapsOfZeros(window: BlendWindow) throws {
        let plan = try TilePlan(imageWidth: 90, imageHeight: 61, tileSize: 32, margin: 6)
        var values = SeededGenerator(seed: 11)
        let glass = Set(plan.tiles.filter { ($0.row * 7 + $0.column * 3) % 4 != 0 })
        let maps = Dictionary(
            uniqueKeysWithValues: plan.tiles.map { tile in
                (tile, (0..<2).map { _ in (0..<(32 * 32)).map { _ in glass.contains(tile) ? 0 : UInt16.random(in: 0...65535, using: &values) } })
            })
        let order = plan.tiles.shuffled(using: &values)
        let asMaps = try Self.stitch(plan, window, members: [2, 3], order: order) { tile, member in maps[tile]![member] }
        let stitcher = try Stitcher(plan: plan, window: window, memberWeights: [2, 3])
        for tile in order {
            for member in 0..<2 {
                if glass.contains(tile) {
                    try stitcher.addZeros(tile: tile, member: member)
                } else {
                    try stitcher.add(tile: tile, member: member, map: maps[tile]![member])
                }
            }
        }
        #expect(stitcher.takeFinishedRows()?.probabilities == asMaps)
        #expect(stitcher.isComplete)
        #expect(!glass.isEmpty && glass.count < plan.tileCount)
        #expect(throws: TesseraError.self) { try stitcher.addZeros(tile: glass.first!, member: 0) }
    }

    /// Sums must stay exact in Int64: a plan whose overlaps and weights could overflow them
    /// is refused with a reason rather than wrapping.
    @Test func overlapsTooDenseForExactSumsAreRefused() throws {
        let dense = try TilePlan(imageWidth: 2000, imageHeight: 2000, tileSize: 512, margin: 64, stride: 1)
        #expect { try Stitcher(plan: dense, window: .gaussian, memberWeights: [1024, 1023]) } throws: {
            ($0 as? TesseraError)?.reason.contains("overlap too much") == true
        }
        let usual = try TilePlan(imageWidth: 2000, imageHeight: 2000, tileSize: 512, margin: 64)
        _ = try Stitcher(plan: usual, window: .gaussian, memberWeights: [1024, 1024, 1024])
    }

    @Test func duplicatesAndStrangersAreRefused() throws {
        let plan = try TilePlan(imageWidth: 64, imageHeight: 64, tileSize: 32, margin: 4)
        let stitcher = try Stitcher(plan: plan, window: .linear, memberWeights: [1, 1])
        let map = [UInt16](repeating: 9, count: 32 * 32)
        let tile = TileIndex(row: 0, column: 0)
        try stitcher.add(tile: tile, member: 0, map: map)
        #expect(throws: TesseraError.self) { try stitcher.add(tile: tile, member: 0, map: map) }
        #expect(throws: TesseraError.self) { try stitcher.add(tile: TileIndex(row: 9, column: 0), member: 0, map: map) }
        #expect(throws: TesseraError.self) { try stitcher.add(tile: tile, member: 2, map: map) }
        #expect(throws: TesseraError.self) { try stitcher.add(tile: tile, member: 1, map: [1, 2, 3]) }
        try stitcher.add(tile: tile, member: 1, map: map)
        #expect(stitcher.hasContribution(tile: tile, member: 1))
    }

    /// Int32 sums give what Int64 sums give, up to the largest values they admit: member
    /// weights summing to 16,383 (no common divisor) make the constant window's norm the
    /// largest that stays narrow, and maps at 65535 make the largest sums.
    @Test func narrowSumsMatchWideOnesAtTheirLimit() throws {
        let plan = try TilePlan(imageWidth: 150, imageHeight: 90, tileSize: 32, margin: 6)
        let members = Array(repeating: 1024, count: 15) + [1023]
        var random = SplitMix64(seed: 7)
        let maps = plan.tiles.map { tile in
            members.indices.map { member -> [UInt16] in
                // Every third tile is at the maximum for every member; the rest are random.
                (tile.row + tile.column) % 3 == 0
                    ? Array(repeating: 65535, count: 32 * 32)
                    : (0..<(32 * 32)).map { _ in UInt16(truncatingIfNeeded: random.next()) }
            }
        }
        func run(narrow: Bool) throws -> (probabilities: [UInt16], mask: [UInt8], foreground: Int) {
            var result: (probabilities: [UInt16], mask: [UInt8], foreground: Int) = ([], [], 0)
            for threshold in [nil, 40_000] as [UInt16?] {
                let stitcher = try Stitcher(plan: plan, window: .constantCrop, memberWeights: members, allowingNarrowSums: narrow)
                #expect(stitcher.isNarrow == narrow)
                for (index, tile) in plan.tiles.enumerated() {
                    for member in members.indices { try stitcher.add(tile: tile, member: member, map: maps[index][member]) }
                    if let threshold {
                        while let rows = stitcher.takeFinishedMaskRows(threshold: threshold) {
                            result.mask += rows.mask
                            result.foreground += rows.foreground
                        }
                    } else {
                        while let rows = stitcher.takeFinishedRows() { result.probabilities += rows.probabilities }
                    }
                }
            }
            return result
        }
        let narrow = try run(narrow: true), wide = try run(narrow: false)
        #expect(narrow.probabilities.count == 150 * 90 && narrow.mask.count == 150 * 90)
        #expect(narrow.probabilities == wide.probabilities)
        #expect(narrow.mask == wide.mask && narrow.foreground == wide.foreground)
        #expect(narrow.probabilities.contains(65535) && narrow.foreground > 0)
    }

    @Test func onlySumsBoundedBelowInt32AreNarrow() throws {
        let plan = try TilePlan(imageWidth: 300, imageHeight: 200, tileSize: 64, margin: 8)
        #expect(try Stitcher(plan: plan, window: .constantCrop, memberWeights: [100, 50]).isNarrow)
        // Reduced by their common divisor, sixteen weights of 1024 are sixteen of 1.
        #expect(try Stitcher(plan: plan, window: .constantCrop, memberWeights: Array(repeating: 1024, count: 16)).isNarrow)
        #expect(try Stitcher(plan: plan, window: .constantCrop, memberWeights: Array(repeating: 1024, count: 15) + [1023]).isNarrow)
        #expect(try !Stitcher(plan: plan, window: .constantCrop, memberWeights: Array(repeating: 1024, count: 16) + [1023]).isNarrow)
        #expect(try !Stitcher(plan: plan, window: .gaussian).isNarrow)
        // The linear ramps of an 8-pixel margin are multiples of 128: reduced, they are 1…32.
        #expect(try Stitcher(plan: plan, window: .linear).isNarrow)
    }
}

/// Reproducible shuffles and draws.
typealias SeededGenerator = SplitMix64
